"""Reading Stripe: one pager for every list the app reads (the sync's backfill slices, its
`created` catch-up and its events, the embedded lists Stripe truncates), and single objects.

Stripe lists newest first, `limit` objects a page, and continues after the id given as
`starting_after`. `Fetcher.pages` yields each page with that id, so a caller that stores it
next to the page it wrote (the sync, in one transaction) resumes exactly where it stopped.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, TypeVar

import orjson

from .schema import Resource
from .stripe_client import StripeAccess

PAGE_SIZE = 100
MAX_CHILD_READS = 8  # truncated child lists read at once, across the pages being read


@dataclass(frozen=True, slots=True)
class Page:
    objects: list[dict]
    after: str | None  # the id the next page starts after: the last object read so far
    last: bool  # no page follows


class Continued(Protocol):
    """A page, or a page with work done on it: where the next one starts, and whether one does."""

    @property
    def after(self) -> str | None: ...

    @property
    def last(self) -> bool: ...


P = TypeVar("P", bound=Continued)


class Fetcher:
    """Reads pages and completes truncated embedded lists; used from many threads.

    Pages are read through the client's requestor, the layer under `StripeClient.raw_request`
    (same client: API base, version, rate budget and retries), and used as plain dicts:
    building StripeObjects and converting them back costs 70-130 ms of CPU per 100-object
    page. A successful body is decoded with orjson: `raw_request` decodes it with the standard
    library into OrderedDicts, 11-15 ms per page of 100 invoices against 2 ms, which at 80
    requests/s would take most of a core. Any other answer goes through the SDK's own handling,
    which raises the typed Stripe error."""

    def __init__(self, access: StripeAccess):
        self.client = access.client
        self._requestor = access.client._requestor  # noqa: SLF001 - see the class docstring
        # Long-lived threads: the SDK's HTTP client keeps one session (and its connections) per thread.
        self._children = ThreadPoolExecutor(max_workers=MAX_CHILD_READS, thread_name_prefix="children")

    def _get(self, path: str, params: dict) -> dict:
        body, code, headers = self._requestor.request_raw(
            "get", path, params=params, base_address="api", api_mode="V1", usage=["raw_request"])
        if 200 <= code < 300:
            with contextlib.suppress(orjson.JSONDecodeError):
                return orjson.loads(body)
        return self._requestor._interpret_response(body, code, headers, "V1").data  # noqa: SLF001

    def page(self, path: str, params: dict, after: str | None = None) -> Page:
        """One page of the list at `path` (`params`: filters such as `created`, and `limit`,
        PAGE_SIZE unless given): the objects after the object `after`."""
        query = {"limit": PAGE_SIZE, **params}
        if after:
            query["starting_after"] = after
        body = self._get(path, query)
        objects = body["data"]
        return Page(objects, objects[-1]["id"] if objects else after, not body.get("has_more") or not objects)

    def pages(self, path: str, params: dict, after: str | None = None) -> Iterator[Page]:
        """The pages of the list at `path`, from the one after the object `after` to the end."""
        return follow(lambda start: self.page(path, params, start), after)

    def resource_page(self, resource: Resource, params: dict | None = None, after: str | None = None) -> Page:
        """One page of a resource's list (with its own list parameters), each object's truncated
        child lists completed."""
        page = self.page(resource.path, {**resource.params, **(params or {})}, after)
        truncated = [obj for obj in page.objects if self._truncated_children(resource, obj)]
        if len(truncated) > 1:
            # Independent requests: read together, a page of invoices takes two round trips, not
            # one per invoice with more lines than Stripe embeds (the rate budget still applies).
            list(self._children.map(lambda obj: self.complete_children(resource, obj), truncated))
        else:
            for obj in truncated:
                self.complete_children(resource, obj)
        return page

    def resource_pages(self, resource: Resource, params: dict | None = None,
                       after: str | None = None) -> Iterator[Page]:
        """The pages of a resource's list from the one after the object `after` to the end."""
        return follow(lambda start: self.resource_page(resource, params, start), after)

    def retrieve(self, resource: Resource, object_id: str) -> dict:
        expand = [p.removeprefix("data.") for p in resource.params.get("expand", [])]
        return self._get(f"{resource.path}/{object_id}", {"expand": expand} if expand else {})

    @staticmethod
    def _truncated_children(resource: Resource, obj: dict) -> list:
        """The children of `obj` whose embedded list Stripe cut short (and that have a list to read)."""
        return [child for child in resource.children if child.list_path is not None
                and isinstance(obj.get(child.field), dict) and obj[child.field].get("has_more")]

    def complete_children(self, resource: Resource, obj: dict) -> None:
        for child in self._truncated_children(resource, obj):
            embedded = obj[child.field]
            data = list(embedded.get("data") or [])
            params = {child.parent_param: obj["id"]} if child.parent_param else {}
            for page in self.pages(child.list_path.format(id=obj["id"]), params, data[-1]["id"] if data else None):
                data.extend(page.objects)
            obj[child.field] = {**embedded, "data": data, "has_more": False}


def follow(read: Callable[[str | None], P], after: str | None) -> Iterator[P]:
    """The pages `read(after)` gives, each read after the last object of the one before, to the
    last: the one loop over Stripe's pages (the sync's ranges pass a `read` that narrows its
    `created` filter between pages and prepares each page's rows)."""
    while True:
        page = read(after)
        yield page
        if page.last:
            return
        after = page.after
