"""Voices through HTTP: each contract's categories, quoting and curating voices, finding them (filters,
Japanese text, keyset pages), voices carried by the work-item batch, the summary per client and period
(figures worked out by hand), who may do what, and bad input."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import asyncpg

from bpo.settings import Settings
from bpo.work.voices import listing
from bpo.work.voices.models import Voice
from bpo.work.voices.summary import trend
from tests.support.database import owner_connection
from tests.support.factories import TenantHandle, create_tenant, create_user, get_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.work import live_contract, send

JST = "+09:00"
DEFAULT_KEYS = ["praise", "bug_report", "feature_request", "ui_confusion", "billing", "other"]
RECIPE_CATEGORIES = [
    {"key": "praise", "label_ja": "レシピへの好評", "label_en": "Praise for recipes"},
    {"key": "bug_report", "label_ja": "アプリの不具合", "label_en": "App bug"},
    {"key": "feature_request", "label_ja": "機能の要望", "label_en": "Feature request"},
]


@dataclass
class Desk:
    """Tenant A: client X with a live contract, client Y with one; people of every role."""

    tenant: TenantHandle
    client: str
    contract: str
    other_client: str
    other_contract: str
    staff: dict[str, str]
    staff_id: str
    supervisor: dict[str, str]
    viewer: dict[str, str]
    other_viewer: dict[str, str]


async def desk(client: httpx.AsyncClient) -> Desk:
    tenant = await create_tenant(client)
    x = await live_contract(client, tenant)
    y = await live_contract(client, tenant)
    staff_user, staff = await create_user(client, tenant, role="staff")
    _, supervisor = await create_user(client, tenant, role="supervisor")
    _, viewer = await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(x["client"]["id"])
    )
    _, other_viewer = await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(y["client"]["id"])
    )
    return Desk(
        tenant=tenant,
        client=x["client"]["id"],
        contract=x["contract"]["id"],
        other_client=y["client"]["id"],
        other_contract=y["contract"]["id"],
        staff=staff,
        staff_id=staff_user["id"],
        supervisor=supervisor,
        viewer=viewer,
        other_viewer=other_viewer,
    )


async def quote(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/voices", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def every_voice(
    http: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/v1/voices", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


class TestCategories:
    async def test_a_contract_uses_the_default_list_until_it_names_its_own(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client)
        path = f"/v1/contracts/{d.contract}/voice-categories"
        default = await get_ok(client, path, d.viewer)
        assert default["default"] is True
        assert [c["key"] for c in default["categories"]] == DEFAULT_KEYS
        assert default["categories"][1] == {
            "key": "bug_report",
            "label_ja": "不具合の報告",
            "label_en": "Bug report",
        }

        own = await client.put(path, json={"categories": RECIPE_CATEGORIES}, headers=d.supervisor)
        assert own.status_code == 200, own.text
        assert own.json() == {"contract_id": d.contract, "categories": RECIPE_CATEGORIES, "default": False}
        assert await get_ok(client, path, d.staff) == own.json()
        # The other contract keeps the default.
        assert (await get_ok(client, f"/v1/contracts/{d.other_contract}/voice-categories", d.tenant.admin))[
            "default"
        ]

        back = await client.put(path, json={"categories": None}, headers=d.tenant.admin)
        assert back.status_code == 200, back.text
        assert back.json()["default"] is True
        assert [c["key"] for c in back.json()["categories"]] == DEFAULT_KEYS

    async def test_a_category_voices_still_have_cannot_leave_the_list(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client)
        path = f"/v1/contracts/{d.contract}/voice-categories"
        await quote(client, d.staff, contract_id=d.contract, text="請求額がおかしい", category="billing")
        await quote(client, d.staff, contract_id=d.contract, text="二重に請求された", category="billing")

        refused = await client.put(path, json={"categories": RECIPE_CATEGORIES}, headers=d.supervisor)

        problem = assert_problem(refused, 409, "voice-category-in-use")
        assert "billing (2 voices)" in problem["detail"]
        assert (await get_ok(client, path, d.supervisor))["default"] is True
        # Kept in the new list, the category may stay.
        kept = [*RECIPE_CATEGORIES, {"key": "billing", "label_ja": "料金", "label_en": "Billing"}]
        assert (await client.put(path, json={"categories": kept}, headers=d.supervisor)).status_code == 200

    async def test_bad_lists_are_refused_naming_the_field_and_change_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client)
        path = f"/v1/contracts/{d.contract}/voice-categories"
        cases = [
            ([*RECIPE_CATEGORIES, RECIPE_CATEGORIES[0]], "categories[3].key"),
            ([{"key": "Bug Report", "label_ja": "不具合", "label_en": "Bug"}], "categories[0].key"),
            ([{"key": "bug", "label_ja": "", "label_en": "Bug"}], "categories[0].label_ja"),
            ([{"key": "bug", "label_ja": "不具合", "label_en": "x" * 101}], "categories[0].label_en"),
            ([], "categories"),
            ([{"key": "bug", "label_ja": "不具合"}], "categories[0].label_en"),
        ]
        for categories, field in cases:
            response = await client.put(path, json={"categories": categories}, headers=d.tenant.admin)
            assert field in error_fields(assert_problem(response, 422, "validation-error")), (
                field,
                response.text,
            )
        assert (await get_ok(client, path, d.tenant.admin))["default"] is True

    async def test_only_operators_set_categories_and_only_of_contracts_they_see(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client)
        body = {"categories": RECIPE_CATEGORIES}
        path = f"/v1/contracts/{d.contract}/voice-categories"
        assert_problem(await client.put(path, json=body, headers=d.staff), 403, "forbidden")
        assert_problem(await client.put(path, json=body, headers=d.viewer), 403, "forbidden")
        # Another client's contract is missing to a viewer, another tenant's to its admin.
        assert_problem(await client.get(path, headers=d.other_viewer), 404, "not-found")
        other = await create_tenant(client)
        assert_problem(await client.get(path, headers=other.admin), 404, "not-found")
        assert_problem(await client.put(path, json=body, headers=other.admin), 404, "not-found")
        assert (await get_ok(client, path, d.tenant.admin))["default"] is True


class TestCuration:
    async def test_staff_quote_supervisors_curate_and_the_client_reads(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client)
        created = await quote(
            client,
            d.staff,
            contract_id=d.contract,
            text="新しいレシピ検索、すごく使いやすくなりました!",
            source_url="https://x.com/cook_hana/status/1850000000000000000",
            channel="x",
            language="ja",
            observed_at=f"2026-10-05T21:14:00{JST}",
            tags=["search", "search", "検索"],
        )
        assert created["contract_id"] == d.contract
        assert created["client_id"] == d.client
        assert created["work_item_id"] is None
        assert created["observed_at"] == "2026-10-05T12:14:00Z"
        assert created["tags"] == ["search", "検索"]
        assert (created["category"], created["sentiment"], created["highlighted"]) == (None, None, False)
        assert created["curated_by"] == d.staff_id

        curated = await client.patch(
            f"/v1/voices/{created['id']}",
            json={"category": "praise", "sentiment": "positive", "highlighted": True, "tags": ["search"]},
            headers=d.supervisor,
        )
        assert curated.status_code == 200, curated.text
        body = curated.json()
        assert (body["category"], body["sentiment"], body["highlighted"], body["tags"]) == (
            "praise",
            "positive",
            True,
            ["search"],
        )
        assert body["curated_by"] != d.staff_id
        assert body["text"] == created["text"]

        # The client's viewer reads it, and nothing of it changes for reading.
        assert await get_ok(client, f"/v1/voices/{created['id']}", d.viewer) == body
        assert [v["id"] for v in await every_voice(client, d.viewer)] == [created["id"]]
        # Cleared with null; a field left out stays.
        cleared = await client.patch(f"/v1/voices/{created['id']}", json={"sentiment": None}, headers=d.staff)
        assert (cleared.json()["sentiment"], cleared.json()["category"]) == (None, "praise")

        deleted = await client.delete(f"/v1/voices/{created['id']}", headers=d.staff)
        assert deleted.status_code == 204, deleted.text
        assert_problem(
            await client.get(f"/v1/voices/{created['id']}", headers=d.tenant.admin), 404, "not-found"
        )

    async def test_a_work_item_carries_one_voice(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        item = {"external_id": "mail-1", "received_at": f"2026-10-06T10:00:00{JST}", "channel": "email"}
        await send(client, d.tenant.admin, {"contract_id": d.contract, "items": [item]})
        item_id = (await get_ok(client, f"/v1/contracts/{d.contract}/work-items", d.tenant.admin))["items"][
            0
        ]["id"]

        voice = await quote(client, d.supervisor, work_item_id=item_id, text="退会方法がわかりません")

        assert (voice["contract_id"], voice["work_item_id"]) == (d.contract, item_id)
        # When it was said: the item's receipt, unless given.
        assert voice["observed_at"] == "2026-10-06T01:00:00Z"
        again = await client.post(
            "/v1/voices", json={"work_item_id": item_id, "text": "もう一度"}, headers=d.staff
        )
        assert_problem(again, 409, "voice-exists")
        mismatch = await client.post(
            "/v1/voices",
            json={"work_item_id": item_id, "contract_id": d.other_contract, "text": "x"},
            headers=d.staff,
        )
        assert error_fields(assert_problem(mismatch, 422)) == ["contract_id"]
        assert [v["id"] for v in await every_voice(client, d.tenant.admin, work_item=item_id)] == [
            voice["id"]
        ]

    async def test_who_may_write_and_what_each_sees(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        mine = await quote(client, d.tenant.admin, contract_id=d.contract, text="X の声")
        theirs = await quote(client, d.supervisor, contract_id=d.other_contract, text="Y の声")
        body = {"contract_id": d.contract, "text": "書けない"}
        assert_problem(await client.post("/v1/voices", json=body, headers=d.viewer), 403, "forbidden")
        assert_problem(
            await client.patch(f"/v1/voices/{mine['id']}", json={"highlighted": True}, headers=d.viewer),
            403,
            "forbidden",
        )
        assert_problem(await client.delete(f"/v1/voices/{mine['id']}", headers=d.viewer), 403, "forbidden")
        # Another client's voice is missing to a viewer, as is one that does not exist.
        for voice_id in (theirs["id"], str(uuid.uuid4())):
            assert_problem(await client.get(f"/v1/voices/{voice_id}", headers=d.viewer), 404, "not-found")
        assert [v["id"] for v in await every_voice(client, d.viewer)] == [mine["id"]]
        assert [v["id"] for v in await every_voice(client, d.other_viewer)] == [theirs["id"]]
        # Staff and supervisors see the tenant's voices; another tenant nothing, and may change nothing.
        assert {v["id"] for v in await every_voice(client, d.staff)} == {mine["id"], theirs["id"]}
        other = await create_tenant(client)
        assert await every_voice(client, other.admin) == []
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(
                method,
                f"/v1/voices/{mine['id']}",
                json={"highlighted": True} if method == "PATCH" else None,
                headers=other.admin,
            )
            assert_problem(response, 404, "not-found")
        refused = await client.post("/v1/voices", json=body, headers=other.admin)
        assert error_fields(assert_problem(refused, 422)) == ["contract_id"]
        assert (await get_ok(client, f"/v1/voices/{mine['id']}", d.tenant.admin))["highlighted"] is False

    async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client)
        base = {"contract_id": d.contract, "text": "アプリが落ちます"}
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        cases: list[tuple[dict[str, Any], str]] = [
            ({**base, "category": "complaint"}, "category"),
            ({**base, "sentiment": "angry"}, "sentiment"),
            ({**base, "source_url": "ftp://files.example.com/a"}, "source_url"),
            ({**base, "source_url": "see the post on x"}, "source_url"),
            ({**base, "source_url": "https://x.com/a b"}, "source_url"),
            ({**base, "text": "あ" * 4001}, "text"),
            ({**base, "text": ""}, "text"),
            ({**base, "tags": [f"t{n}" for n in range(21)]}, "tags"),
            ({**base, "tags": [" padded"]}, "tags[0]"),
            ({**base, "language": "Japanese"}, "language"),
            ({**base, "observed_at": "2026-10-05T21:14:00"}, "observed_at"),
            ({**base, "observed_at": future}, "observed_at"),
            ({"text": "契約なし"}, "contract_id"),
            ({**base, "contract_id": str(uuid.uuid4())}, "contract_id"),
            ({**base, "work_item_id": str(uuid.uuid4())}, "work_item_id"),
            ({**base, "mood": "bad"}, "mood"),
        ]
        for body, field in cases:
            response = await client.post("/v1/voices", json=body, headers=d.staff)
            problem = assert_problem(response, 422, "validation-error")
            assert field in error_fields(problem), (field, response.text)
        voice = await quote(client, d.staff, **base)
        for patch, field in [({"category": "nope"}, "category"), ({"sentiment": "meh"}, "sentiment")]:
            response = await client.patch(f"/v1/voices/{voice['id']}", json=patch, headers=d.supervisor)
            assert error_fields(assert_problem(response, 422, "validation-error")) == [field]
        assert [v["id"] for v in await every_voice(client, d.tenant.admin)] == [voice["id"]]
        assert (await get_ok(client, f"/v1/voices/{voice['id']}", d.tenant.admin)) == voice


class TestFinding:
    async def test_filters_and_japanese_words(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        v = {}
        v["crash"] = await quote(
            client, d.staff, contract_id=d.contract, text="アップデート後にアプリが起動しなくなりました",
            category="bug_report", sentiment="negative", tags=["ios", "crash"], channel="x",
            observed_at=f"2026-10-05T09:00:00{JST}",
        )  # fmt: skip
        v["photo"] = await quote(
            client, d.staff, contract_id=d.contract, text="写真付きのレシピが保存できない、アプリの不具合?",
            category="bug_report", sentiment="negative", tags=["android"], channel="instagram",
            observed_at=f"2026-10-06T09:00:00{JST}", highlighted=True,
        )  # fmt: skip
        v["love"] = await quote(
            client, d.staff, contract_id=d.contract, text="このアプリのおかげで毎日の献立が楽しい!",
            category="praise", sentiment="positive", tags=["ios"], channel="x",
            observed_at=f"2026-10-07T09:00:00{JST}", highlighted=True,
        )  # fmt: skip
        v["english"] = await quote(
            client, d.staff, contract_id=d.contract, text="Please add a dark mode (100% needed)",
            category="feature_request", sentiment="neutral", language="en",
            observed_at=f"2026-10-20T09:00:00{JST}",
        )  # fmt: skip
        v["elsewhere"] = await quote(
            client, d.staff, contract_id=d.other_contract, text="アプリが起動しない", category="bug_report",
            observed_at=f"2026-10-05T10:00:00{JST}",
        )  # fmt: skip

        async def ids(**params: Any) -> list[str]:
            names = {voice["id"]: name for name, voice in v.items()}
            return [names[voice["id"]] for voice in await every_voice(client, d.tenant.admin, **params)]

        assert await ids(contract=d.contract) == ["english", "love", "photo", "crash"]
        assert await ids(client=d.other_client) == ["elsewhere"]
        assert await ids(contract=[d.contract, d.other_contract], q="アプリ 起動") == ["elsewhere", "crash"]
        assert await ids(q="アプリ", category="bug_report", contract=d.contract) == ["photo", "crash"]
        assert await ids(category=["praise", "feature_request"]) == ["english", "love"]
        assert await ids(sentiment="negative", contract=d.contract) == ["photo", "crash"]
        assert await ids(highlighted="true") == ["love", "photo"]
        assert await ids(highlighted="false", contract=d.contract) == ["english", "crash"]
        assert await ids(tag="ios") == ["love", "crash"]
        assert await ids(tag=["ios", "crash"]) == ["crash"]
        assert await ids(channel="instagram") == ["photo"]
        assert await ids(q="DARK mode") == ["english"]
        # LIKE's own characters are matched as themselves.
        assert await ids(q="100%") == ["english"]
        assert await ids(q="10_%") == []
        assert await ids(
            observed_from=f"2026-10-06T00:00:00{JST}", observed_to=f"2026-10-07T09:00:00{JST}"
        ) == ["photo"]
        # A viewer: its own client's only, and another client's contract or client is missing.
        viewer_ids = {voice["id"] for voice in await every_voice(client, d.viewer, q="アプリ")}
        assert viewer_ids == {v["crash"]["id"], v["photo"]["id"], v["love"]["id"]}
        for params in (
            {"contract": d.other_contract},
            {"client": d.other_client},
            {"contract": str(uuid.uuid4())},
        ):
            response = await client.get("/v1/voices", params=params, headers=d.viewer)
            assert_problem(response, 404, "not-found")

    async def test_pages_follow_each_other_without_gaps_or_repeats(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        created = []
        for n in range(23):
            # Several voices share an instant: the id breaks the tie.
            at = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=n // 3)
            created.append(
                await quote(
                    client, d.staff, contract_id=d.contract, text=f"声 {n}", observed_at=at.isoformat()
                )
            )
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"contract": d.contract, "limit": 5}
            if cursor:
                params["cursor"] = cursor
            page = await get_ok(client, "/v1/voices", d.viewer, **params)
            pages += 1
            seen += [voice["id"] for voice in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            # A voice quoted meanwhile, newer than everything, never shows up in the pages after.
            await quote(client, d.staff, contract_id=d.contract, text="新しい声")
        expected = sorted(created, key=lambda v: (v["observed_at"], v["id"]), reverse=True)
        assert seen == [voice["id"] for voice in expected]
        assert pages == 5

    async def test_bad_filters_are_a_422_naming_the_parameter(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"sentiment": "happy"}, "query.sentiment"),
            ({"category": "Bug Report"}, "query.category"),
            ({"category": [f"c{n}" for n in range(21)]}, "query.category"),
            ({"observed_from": "2026-10-01"}, "query.observed_from"),
            (
                {"observed_from": "2026-10-02T00:00:00Z", "observed_to": "2026-10-01T00:00:00Z"},
                "query.observed_to",
            ),
            ({"q": "a"}, "query.q"),
            ({"q": "a b c d e f"}, "query.q"),
            ({"tag": ["x" * 65]}, "query.tag"),
            ({"cursor": "not-a-cursor"}, "query.cursor"),
            ({"highlighted": "maybe"}, "query.highlighted"),
            ({"limit": 500}, "query.limit"),
            ({"client": "nope"}, "query.client"),
        ]
        for params, field in cases:
            response = await client.get("/v1/voices", params=params, headers=d.staff)
            assert field in error_fields(assert_problem(response, 422, "validation-error")), (
                params,
                response.text,
            )

    async def test_words_and_tags_are_found_through_their_indexes(self, settings: Settings) -> None:
        owner = await owner_connection(settings)
        try:
            for filters, index in (
                (listing.parse_filters(q="表示されない"), "ix_voices_search"),
                (listing.parse_filters(tag=["ios"]), "ix_voices_tags"),
            ):
                # As the app sends it (values as parameters), planned without them (a generic plan).
                statement = select(Voice.id).where(*listing.conditions(filters))
                compiled = statement.compile(dialect=asyncpg.dialect())  # type: ignore[no-untyped-call]
                values = [compiled.params[name] for name in compiled.positiontup or ()]
                async with owner.transaction():
                    await owner.execute("SET LOCAL enable_seqscan = off")
                    await owner.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                    plan = "\n".join(row[0] for row in await owner.fetch(f"EXPLAIN {compiled}", *values))
                assert index in plan, plan
        finally:
            await owner.close()


class TestBatch:
    async def test_items_carry_voices_upserted_on_every_replay(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        items = [
            {
                "external_id": "post-1",
                "received_at": f"2026-10-05T10:00:00{JST}",
                "voice": {"text": "レシピの写真が表示されません", "category": "bug_report", "channel": "x"},
            },
            {"external_id": "post-2", "received_at": f"2026-10-05T11:00:00{JST}"},
            {
                "external_id": "post-3",
                "received_at": f"2026-10-05T12:00:00{JST}",
                "voice": {
                    "text": "検索が速くなって嬉しい",
                    "observed_at": f"2026-10-05T08:30:00{JST}",
                    "sentiment": "positive",
                    "tags": ["search"],
                    "source_url": "https://x.com/a/status/1",
                },
            },
        ]
        batch = {"contract_id": d.contract, "items": items}
        first = await send(client, d.tenant.admin, batch)
        assert first.status_code == 200, first.text
        assert first.json()["voices"] == {"received": 2, "created": 2, "updated": 0, "unchanged": 0}
        voices = {v["text"]: v for v in await every_voice(client, d.tenant.admin, contract=d.contract)}
        assert set(voices) == {"レシピの写真が表示されません", "検索が速くなって嬉しい"}
        photo = voices["レシピの写真が表示されません"]
        assert photo["observed_at"] == "2026-10-05T01:00:00Z"  # the item's receipt
        assert voices["検索が速くなって嬉しい"]["observed_at"] == "2026-10-04T23:30:00Z"

        replay = await send(client, d.tenant.admin, batch)
        assert replay.json()["voices"] == {"received": 2, "created": 0, "updated": 0, "unchanged": 2}
        assert len(await every_voice(client, d.tenant.admin, contract=d.contract)) == 2

        # Curated since: a replay that leaves the fields out does not undo it; new text replaces the old.
        await client.patch(
            f"/v1/voices/{photo['id']}", json={"sentiment": "negative", "highlighted": True}, headers=d.staff
        )
        items[0]["voice"]["text"] = "レシピの写真が表示されません (iOS 18)"
        changed = await send(client, d.tenant.admin, batch)
        assert changed.json()["voices"] == {"received": 2, "created": 0, "updated": 1, "unchanged": 1}
        again = await get_ok(client, f"/v1/voices/{photo['id']}", d.tenant.admin)
        assert (again["text"], again["sentiment"], again["highlighted"], again["category"]) == (
            "レシピの写真が表示されません (iOS 18)",
            "negative",
            True,
            "bug_report",
        )
        # A batch without voices answers as before.
        plain = await send(client, d.tenant.admin, {"contract_id": d.contract, "items": [items[1]]})
        assert "voices" not in plain.json()

    async def test_a_bad_voice_rejects_the_whole_batch(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        items: list[dict[str, Any]] = [
            {
                "external_id": f"p-{n}",
                "received_at": f"2026-10-05T1{n}:00:00{JST}",
                "voice": {"text": f"声{n}"},
            }
            for n in range(4)
        ]
        items[1]["voice"]["category"] = "complaint"
        items[2]["voice"]["observed_at"] = "2026-10-05T10:00:00"
        items[3]["voice"]["sentiment"] = "furious"
        response = await send(client, d.tenant.admin, {"contract_id": d.contract, "items": items})
        problem = assert_problem(response, 422, "validation-error")
        assert "items[3].voice.sentiment" in error_fields(problem)
        del items[3]["voice"]["sentiment"]
        response = await send(client, d.tenant.admin, {"contract_id": d.contract, "items": items})
        problem = assert_problem(response, 422, "validation-error")
        assert {(e["index"], e["field"]) for e in problem["errors"]} == {
            (1, "items[1].voice.category"),
            (2, "items[2].voice.observed_at"),
        }
        assert (await get_ok(client, f"/v1/contracts/{d.contract}/work-items", d.tenant.admin))["items"] == []
        assert await every_voice(client, d.tenant.admin) == []


def at(day: int, clock: str = "12:00") -> str:
    return f"2026-10-{day:02d}T{clock}:00{JST}"


class TestSummary:
    async def test_counts_by_category_sentiment_and_day_against_the_week_before(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client)
        path = f"/v1/contracts/{d.contract}/voice-categories"
        await client.put(path, json={"categories": RECIPE_CATEGORIES}, headers=d.supervisor)
        this_week = [
            (at(5, "09:00"), "bug_report", "negative", False),
            (at(5, "23:59"), "bug_report", "negative", True),
            (at(6), "bug_report", "negative", False),
            (at(7), "praise", "positive", True),
            (at(7, "18:00"), "praise", "positive", False),
            (at(9), "feature_request", "neutral", False),
            # 23:30 on Sunday in Tokyo, 14:30 UTC: still this week.
            (at(11, "23:30"), None, None, False),
        ]
        outside = [
            # 00:10 on Monday 12 in Tokyo (15:10 UTC on Sunday): next week.
            (at(12, "00:10"), "bug_report", "negative", True),
            # The week before: five praises and a request, one highlighted.
            *[(at(day), "praise", "positive", day == 1) for day in (1, 2, 2, 3, 4)],
            (at(4, "00:00"), "feature_request", "neutral", False),
            # Two weeks before: counts for nothing.
            (f"2026-09-27T12:00:00{JST}", "bug_report", "negative", True),
        ]
        texts = {}
        for n, (observed, category, sentiment, highlighted) in enumerate(this_week + outside):
            body: dict[str, Any] = {"contract_id": d.contract, "text": f"声 {n}", "observed_at": observed}
            body.update(highlighted=highlighted)
            if category:
                body["category"] = category
            if sentiment:
                body["sentiment"] = sentiment
            texts[n] = (await quote(client, d.staff, **body))["id"]
        summary = await get_ok(
            client, f"/v1/clients/{d.client}/voices/summary", d.viewer, start="2026-10-05", end="2026-10-11"
        )

        assert (summary["start"], summary["end"]) == ("2026-10-05", "2026-10-11")
        assert (summary["previous_start"], summary["previous_end"]) == ("2026-09-28", "2026-10-04")
        (contract,) = summary["contracts"]
        assert contract["contract_id"] == d.contract
        assert (contract["total"], contract["previous_total"]) == (7, 6)
        assert contract["sentiments"] == {"positive": 2, "neutral": 1, "negative": 3, "unrated": 1}
        lines = {line["key"]: line for line in contract["categories"]}
        assert [line["key"] for line in contract["categories"]] == [
            "praise",
            "bug_report",
            "feature_request",
            None,
        ]
        assert lines["bug_report"] | {"sentiments": None} == {
            "key": "bug_report", "label_ja": "アプリの不具合", "label_en": "App bug", "total": 3,
            "sentiments": None, "previous_total": 0, "trend": "up",
        }  # fmt: skip
        assert lines["bug_report"]["sentiments"] == {"positive": 0, "neutral": 0, "negative": 3, "unrated": 0}
        # 2 against 5: down; 1 against 1: flat; the voice without a category: flat from nothing.
        assert [(lines[k]["total"], lines[k]["previous_total"], lines[k]["trend"]) for k in lines] == [
            (2, 5, "down"),
            (3, 0, "up"),
            (1, 1, "flat"),
            (1, 0, "flat"),
        ]
        assert lines[None]["label_ja"] == "未分類"
        assert contract["trending_up"] == ["bug_report"]
        assert contract["days"] == [
            {"day": "2026-10-05", "category": "bug_report", "sentiment": "negative", "count": 2},
            {"day": "2026-10-06", "category": "bug_report", "sentiment": "negative", "count": 1},
            {"day": "2026-10-07", "category": "praise", "sentiment": "positive", "count": 2},
            {"day": "2026-10-09", "category": "feature_request", "sentiment": "neutral", "count": 1},
            {"day": "2026-10-11", "category": None, "sentiment": None, "count": 1},
        ]
        # This week's highlighted voices only, newest first.
        assert [v["id"] for v in contract["highlighted"]] == [texts[3], texts[1]]

        # The same figures for the staff, and for the contract named.
        named = await get_ok(
            client, f"/v1/clients/{d.client}/voices/summary", d.staff,
            start="2026-10-05", end="2026-10-11", contract=d.contract,
        )  # fmt: skip
        assert named == summary

    async def test_who_may_read_a_summary_and_bad_periods(self, client: httpx.AsyncClient) -> None:
        d = await desk(client)
        await quote(client, d.staff, contract_id=d.contract, text="良い", observed_at=at(5))
        path = f"/v1/clients/{d.client}/voices/summary"
        week = {"start": "2026-10-05", "end": "2026-10-11"}
        assert_problem(await client.get(path, params=week, headers=d.other_viewer), 404, "not-found")
        other = await create_tenant(client)
        assert_problem(await client.get(path, params=week, headers=other.admin), 404, "not-found")
        mixed = await client.get(path, params={**week, "contract": d.other_contract}, headers=d.tenant.admin)
        assert_problem(mixed, 404, "not-found")
        for params, field in [
            ({"start": "2026-10-12", "end": "2026-10-11"}, "start"),
            ({"start": "2025-01-01", "end": "2026-10-11"}, "end"),
            ({"start": "0001-01-01"}, "start"),
            ({"start": "yesterday"}, "query.start"),
        ]:
            response = await client.get(path, params=params, headers=d.viewer)
            assert field in error_fields(assert_problem(response, 422, "validation-error")), response.text
        # Without dates: the last seven days up to today, which hold nothing here.
        recent = await get_ok(client, path, d.viewer)
        assert recent["contracts"] == []


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (0, 0, "flat"),
        (1, 0, "flat"),
        (2, 0, "up"),
        (12, 10, "flat"),
        (13, 10, "up"),
        (7, 10, "down"),
        (3, 5, "down"),
    ],
)
def test_trend(current: int, previous: int, expected: str) -> None:
    assert trend(current, previous) == expected


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_a_trend_needs_a_clear_change(current: int, previous: int) -> None:
    change = current - previous
    clear = abs(change) >= 2 and abs(change) >= previous / 4
    assert trend(current, previous) == ("flat" if not clear else "up" if change > 0 else "down")
    assert trend(previous, previous) == "flat"
    # More voices never turn a rise into anything else.
    if trend(current, previous) == "up":
        assert trend(current + 1, previous) == "up"
