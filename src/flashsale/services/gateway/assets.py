"""The storefront's static files, served from this process: no CDN, nothing fetched at run time.

Each file is read once when the app is built and named by a hash of its content. Pages link
`/static/<name>?v=<hash>`: a browser may keep that URL for a year without asking again
(`immutable`), and a new release links a new URL. A request with another or no `v` gets the
current file but must revalidate it (ETag, 304), so a page of the previous release still loads.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).parent / "storefront"
SERVED_SUFFIXES = (".js", ".css", ".svg")
LONG_CACHE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    name: str
    content: bytes
    media_type: str
    digest: str  # the first 16 hex digits of the content's SHA-256

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'

    @property
    def url(self) -> str:
        return f"/static/{self.name}?v={self.digest}"


@dataclass(frozen=True)
class Assets:
    by_name: dict[str, Asset]

    @classmethod
    def load(cls, folder: Path = FOLDER) -> Assets:
        found = {}
        for path in sorted(folder.iterdir()):
            if path.suffix in SERVED_SUFFIXES:
                content = path.read_bytes()
                media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if media_type.startswith("text/") or path.suffix == ".js":
                    media_type += "; charset=utf-8"
                found[path.name] = Asset(path.name, content, media_type, hashlib.sha256(content).hexdigest()[:16])
        return cls(found)

    def url(self, name: str) -> str:
        """The versioned URL a page links the asset by (KeyError for an asset that does not exist)."""
        return self.by_name[name].url

    def get(self, name: str) -> Asset | None:
        return self.by_name.get(name)


def cache_control(asset: Asset, version: str | None) -> str:
    """A year for the URL pages link (its content can never change); revalidate for any other."""
    return LONG_CACHE if version == asset.digest else REVALIDATE


def not_modified(asset: Asset, if_none_match: str | None) -> bool:
    """Whether the client's copy (If-None-Match, RFC 9110 §13.1.2: weak comparison) is current."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or asset.etag in tags
