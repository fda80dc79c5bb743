"""The house that modules share (houses.py), and pages in a real browser: Debian's chromium driven by
Playwright.

Playwright's own browser downloads are never used: the tests launch the chromium the machine has
(`apt-get install chromium`; `.ci/run` installs it). Where there is none, the page tests skip and
say why; with CI=true a missing chromium fails them instead, so CI cannot pass without them.

Screenshots are test artifacts: `FLASHSALE_TEST_ARTIFACTS` (default `.artifacts/` at the top of
the checkout) gets one per `shot(page, name)`, named after the test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from houses import HouseKeeper, SharedHouse
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

# The flags a closed network and a container need: no sandbox (root), no GPU, and no calls home
# (without --disable-background-networking chromium keeps opening refused connections).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync",
]
Shot = Callable[[Page, str], Path]
# A guest's first Buy now signs up and in (two password hashes) before the order: on a busy
# machine that is seconds, more than Playwright's default 5 s for an expectation.
PATIENCE_MS = 30_000
EXPECT_DEFAULT_MS = 5_000  # Playwright's own


SHARED_HOUSE = "shared_house"
KEEPER = HouseKeeper()


@pytest.fixture(scope="module")
def shared_house(tmp_path_factory: pytest.TempPathFactory) -> SharedHouse:
    """The house of the modules that ask nothing special of theirs (houses.py). `KEEPER` starts and
    stops it, as no fixture scope can: it lives across several modules, and no longer."""
    return KEEPER.house(lambda: tmp_path_factory.mktemp("shared-house"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The system tests that share the house run last among the system tests, one after the other,
    so it is started once (otherwise in file order). The others keep their order, and so do
    the tests outside this directory."""
    here = [n for n, item in enumerate(items) if item.nodeid.startswith("tests/system/")]
    system = [items[n] for n in here]
    ordered = ([item for item in system if SHARED_HOUSE not in getattr(item, "fixturenames", ())]
               + [item for item in system if SHARED_HOUSE in getattr(item, "fixturenames", ())])
    for n, item in zip(here, ordered, strict=True):
        items[n] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """After a test's own teardown: the shared house stops when the next test does not use it."""
    try:
        return (yield)
    finally:
        if nextitem is None or SHARED_HOUSE not in getattr(nextitem, "fixturenames", ()):
            KEEPER.stop()


def chromium_path() -> str | None:
    explicit = os.environ.get("FLASHSALE_CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """A headless chromium for the module's tests.

    Module-scoped on purpose: Playwright's sync API runs an event loop of its own in this thread
    for as long as it is started, and any later test in the same worker that runs asyncio
    (`asyncio.run`, async tests) would fail with "cannot be called from a running event loop"."""
    path = chromium_path()
    if path is None:
        reason = "no chromium on this machine (apt-get install chromium) - page tests need a real browser"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies, no storage) and a page in it."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def patient_expect() -> Iterator[None]:
    """Playwright's expectations wait PATIENCE_MS in the module that asks for this."""
    expect.set_options(timeout=PATIENCE_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=EXPECT_DEFAULT_MS)


@pytest.fixture
def buyer(chromium: Browser) -> Iterator[Callable[[], Page]]:
    """`buyer()` is a page in a browser context of its own: a buyer with their own tab storage."""
    contexts: list[BrowserContext] = []

    def new_buyer() -> Page:
        context = chromium.new_context(viewport={"width": 1100, "height": 800})
        context.set_default_timeout(PATIENCE_MS)
        contexts.append(context)
        return context.new_page()

    try:
        yield new_buyer
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shot:
    """`shot(page, "sold-out")` saves a full-page screenshot under the artifacts directory."""
    root = Path(os.environ.get("FLASHSALE_TEST_ARTIFACTS", Path(request.config.rootpath) / ".artifacts"))
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        target = folder / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(target), full_page=True)
        return target

    return take
