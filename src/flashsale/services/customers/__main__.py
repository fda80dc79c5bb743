"""`python -m flashsale.services.customers`: one customers instance, configured from FLASHSALE_*."""

import ctypes
import ctypes.util

from flashsale.kit.service import run_service
from flashsale.kit.settings import ServiceSettings
from flashsale.services.customers.app import create_app

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def give_hashing_memory_back() -> None:
    """Every password hash takes 19 MiB (credentials.py). glibc serves an allocation that large
    from the heap once a freed one has raised its mmap threshold, and a hashing thread's heap keeps
    it: a burst of 16 sign-ups and sign-ins left the process at ~135 MB resident (~95 idle). With
    the threshold fixed at 1 MiB every hash's memory is mapped and given back when it is freed
    (~96 MB after 80 sign-ups). Without glibc (another libc) nothing is changed."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name)
    if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version"):
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)


if __name__ == "__main__":
    give_hashing_memory_back()
    settings = ServiceSettings()
    run_service(lambda: create_app(settings), settings)
