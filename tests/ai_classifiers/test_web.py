"""Settings → Classifiers pages: upload a CSV, watch it train, read metrics, try it."""

from __future__ import annotations

import csv
import io

import httpx

from tests.ai_classifiers.common import examples, wait_ready
from tests.fixtures.factories import member, register
from tests.web.test_pages import HX, csrf_of, web_login


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["text", "label"])
    w.writerows([(r["text"], r["label"]) for r in rows])
    return out.getvalue().encode()


async def test_classifier_pages(client: httpx.AsyncClient, base_url: str) -> None:
    owner = await register(client, org="Classifier pages")
    web = await web_login(base_url, owner)
    try:
        r = await web.get("/settings/classifiers")
        assert r.status_code == 200 and "No classifiers yet" in r.text

        # a file without the label column: the form comes back naming it
        r = await web.post(
            "/settings/classifiers",
            data={"csrf_token": csrf_of(web), "name": "Bad", "label_column": "queue"},
            files={"file": ("x.csv", _csv(examples(5)), "text/csv")},
        )
        assert r.status_code == 422 and "no column" in r.text and "field-error" in r.text

        r = await web.post(
            "/settings/classifiers",
            data={"csrf_token": csrf_of(web), "name": "Support intents", "purpose": "intent"},
            files={"file": ("intents.csv", _csv(examples(10)), "text/csv")},
        )
        assert r.status_code == 303, r.text
        cid = int(r.headers["location"].rsplit("/", 1)[1])
        await wait_ready(client, owner, cid)

        r = await web.get("/settings/classifiers")
        assert "Support intents" in r.text and "Ready" in r.text
        r = await web.get(f"/settings/classifiers/{cid}")
        assert r.status_code == 200
        assert "Held-out accuracy" in r.text and "lost_or_stolen_card" in r.text

        r = await web.post(
            f"/settings/classifiers/{cid}/try",
            data={
                "csrf_token": csrf_of(web),
                "texts": "Someone stole my card\nWhat's a good recipe for banana bread?",
            },
            headers=HX,
        )
        assert r.status_code == 200, r.text
        assert "lost_or_stolen_card" in r.text and "none of these" in r.text

        viewer = await member(client, owner, "viewer")
        vweb = await web_login(base_url, viewer)
        try:
            r = await vweb.get(f"/settings/classifiers/{cid}")
            assert r.status_code == 200 and "Retrain" not in r.text
            r = await vweb.post(
                f"/settings/classifiers/{cid}/delete", data={"csrf_token": csrf_of(vweb)}
            )
            assert r.status_code == 403
        finally:
            await vweb.aclose()

        r = await web.post(f"/settings/classifiers/{cid}/delete", data={"csrf_token": csrf_of(web)})
        assert r.status_code == 303
        assert (await web.get(f"/settings/classifiers/{cid}")).status_code == 404
    finally:
        await web.aclose()
