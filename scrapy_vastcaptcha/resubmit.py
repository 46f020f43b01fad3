"""Put tokens into the form that holds the widgets and build the request to resubmit it.

A :class:`FormPlan` is the form as plain data (action, method, every field
with its value) so that it can wait in ``request.meta`` (JOBDIR, Redis) and
be filled again with a fresh token if the first one went stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from form2request import form2request
from scrapy import Request
from scrapy.http import FormRequest, TextResponse

from scrapy_vastcaptcha.api.errors import NoFormError
from scrapy_vastcaptcha.captcha import Captcha


@dataclass(frozen=True)
class FormPlan:
    url: str
    method: str
    #: Every field the browser would send, in order, tokens left empty.
    fields: tuple[tuple[str, str], ...]
    #: For each field that takes a token, the index of its captcha.
    token_fields: tuple[tuple[str, int], ...]
    #: The page's charset: browsers submit a form in it.
    encoding: str = "utf-8"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "method": self.method,
            "fields": [list(pair) for pair in self.fields],
            "token_fields": [list(pair) for pair in self.token_fields],
            "encoding": self.encoding,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FormPlan:
        return cls(
            url=data["url"],
            method=data["method"],
            fields=tuple((str(k), str(v)) for k, v in data["fields"]),
            token_fields=tuple((str(k), int(i)) for k, i in data["token_fields"]),
            encoding=data.get("encoding", "utf-8"),
        )

    def filled(self, tokens: Sequence[str]) -> list[tuple[str, str]]:
        """The fields with each token field set; a token field the form
        lacked is added, and a field named twice keeps one value."""
        values = {name: tokens[index] for name, index in self.token_fields}
        out: list[tuple[str, str]] = []
        for name, value in self.fields:
            if name in values:
                if name not in (n for n, _ in out):
                    out.append((name, values[name]))
            else:
                out.append((name, value))
        present = {name for name, _ in out}
        out.extend((name, values[name]) for name, _ in self.token_fields if name not in present)
        return out


def plan_form(
    response: TextResponse,
    captchas: Sequence[Captcha],
    form_index: int | None,
    form_css: str | None = None,
) -> FormPlan:
    """Read the form (by CSS selector, or by index) that the captchas' tokens go into."""
    if form_css is None and form_index is None:
        kinds = ", ".join(c.kind for c in captchas)
        raise NoFormError(
            f"no <form> holds the {kinds} widget on {response.url}; name one with "
            'request.meta["vastcaptcha"] = {"form": "<css selector>", ...}'
        )
    forms = response.css(form_css) if form_css else response.xpath("//form")[form_index or 0 :]
    if not forms:
        raise NoFormError(f"no form matches {form_css!r} on {response.url}")
    token_fields = tuple((name, i) for i, c in enumerate(captchas) for name in c.fields)
    # form2request collects the fields exactly as a browser would (selects,
    # checkboxes, the clicked submit button); token fields are left blank.
    try:
        request = form2request(forms[0], {name: "" for name, _ in token_fields})
    except ValueError as exc:
        raise NoFormError(f"cannot use the captcha form on {response.url}: {exc}") from None
    # form2request percent-encodes as UTF-8 whatever the page's charset; the
    # resubmission re-encodes in the page's charset, as a browser would.
    parts = urlsplit(request.url)
    if request.method == "GET":
        pairs = parse_qsl(parts.query, keep_blank_values=True, encoding="utf-8")
        url = urlunsplit(parts._replace(query=""))
    else:
        pairs = parse_qsl(request.body.decode("ascii"), keep_blank_values=True, encoding="utf-8")
        url = request.url
    return FormPlan(
        url=url,
        method=request.method,
        fields=tuple(pairs),
        token_fields=token_fields,
        encoding=response.encoding,
    )


def build_request(
    original: Request,
    plan: FormPlan,
    tokens: Sequence[str],
    *,
    meta: dict[str, Any],
    priority: int,
    referer: str,
    user_agent: str | None = None,
) -> FormRequest:
    """The resubmission: the original request's callbacks and meta, the
    filled form, ``dont_filter`` so the dupefilter cannot drop it.

    A new :class:`FormRequest` rather than ``original.replace(cls=...)``: the
    original may be a subclass (``JsonRequest``) whose own arguments a form
    does not take. Headers that describe the original body, or that
    authenticate to the original host, are not carried over.
    """
    headers = original.headers.copy()
    for name in ("Content-Type", "Content-Length", "Cookie"):
        headers.pop(name, None)
    if urlsplit(plan.url).netloc != urlsplit(original.url).netloc:
        headers.pop("Authorization", None)
    headers["Referer"] = referer
    if user_agent:
        headers["User-Agent"] = user_agent
    return FormRequest(
        plan.url,
        method=plan.method,
        formdata=plan.filled(tokens),
        encoding=plan.encoding,
        headers=headers,
        callback=original.callback,
        errback=original.errback,
        cb_kwargs=original.cb_kwargs,
        cookies=original.cookies,
        flags=original.flags,
        meta=meta,
        priority=priority,
        dont_filter=True,
    )
