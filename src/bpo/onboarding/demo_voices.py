# ruff: noqa: RUF001 - users write Japanese with full-width punctuation.
"""What users of the demo's Rakuten Recipe and Pairs say: the voices the demo's social-media and email
work items carry (``items[].voice``), so the dashboards and the weekly reports have a voice section.

A few items of each day carry a voice, drawn from a generator seeded by contract and day and never by the
present, so a day's voices are the same on every run and a re-run only upserts them unchanged. Weeks
alternate: in even ISO weeks an app update brings bug reports to Rakuten Recipe and renewals bring billing
questions to Pairs; in odd weeks a recipe campaign brings praise and Pairs hears about its app, so each
week shows some category rising against the week before.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from msgspec.structs import replace

from bpo.work.schemas import Sentiment, VoiceIn, WorkItemIn

POSITIVE, NEUTRAL, NEGATIVE = Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE
# Which contracts of a service hear users: replies on social media and email support.
WORK_TYPES = frozenset({"active_support", "email_support"})
# Voices a day per contract, on average.
PER_DAY = 4
HIGHLIGHTED = 0.12
DISHES = (
    "肉じゃが", "鶏むね肉の照り焼き", "ほうれん草のおひたし", "豚の生姜焼き", "かぼちゃの煮物", "親子丼",
    "麻婆豆腐", "煮込みハンバーグ", "きのこの炊き込みご飯", "チキン南蛮", "鮭のホイル焼き", "豆腐ハンバーグ",
)  # fmt: skip


@dataclass(frozen=True)
class Said:
    category: str
    sentiment: Sentiment
    text: str
    tags: tuple[str, ...] = ()


RECIPE = (
    Said("praise", POSITIVE, "{dish}のレシピ、家族に大好評でした！つくれぽも送りました"),
    Said("praise", POSITIVE, "楽天レシピのおかげで毎日の献立に迷わなくなりました。ありがとうございます"),
    Said("praise", POSITIVE, "{dish}、材料が少なくて本当に簡単。リピート決定です"),
    Said("praise", POSITIVE, "レシピを保存するとポイントが貯まるのが地味に嬉しい"),
    Said("praise", POSITIVE, "子どもが野菜を残さず食べてくれた！{dish}のレシピに感謝です"),
    Said("praise", POSITIVE, "人気順で並べると外れがない。今日も助かりました"),
    Said("praise", POSITIVE, "作者さんのコメントが丁寧で、料理初心者でも失敗しませんでした"),
    Said("praise", POSITIVE, "献立カレンダー、一週間分まとめて決められて便利です"),
    Said("bug_report", NEGATIVE, "アップデートしてからアプリが起動直後に落ちます（iPhone）", ("ios",)),
    Said(
        "bug_report", NEGATIVE, "つくれぽの写真がアップロードできません。何度やっても「通信エラー」と出ます"
    ),
    Said("bug_report", NEGATIVE, "お気に入りに保存したレシピが消えてしまいました…"),
    Said("bug_report", NEGATIVE, "検索結果が途中から表示されない。スクロールしても真っ白です"),
    Said("bug_report", NEGATIVE, "ログインしてもすぐログアウトされてしまいます。Androidです", ("android",)),
    Said("bug_report", NEGATIVE, "{dish}のレシピで材料の分量が表示されません"),
    Said("bug_report", NEGATIVE, "動画レシピが再生できない。音だけ流れて画面は止まったまま"),
    Said("feature_request", NEUTRAL, "冷蔵庫にある材料から検索できるようにしてほしい"),
    Said("feature_request", NEUTRAL, "お気に入りをフォルダ分けできたら嬉しいです"),
    Said("feature_request", NEUTRAL, "買い物リストを家族と共有できたら最高なのに"),
    Said("feature_request", NEUTRAL, "カロリーや塩分の目安が表示されると助かります"),
    Said("feature_request", NEUTRAL, "作り置き向けのレシピだけ絞り込めると嬉しい"),
    Said("feature_request", NEUTRAL, "調理時間で絞り込みたい（15分以内とか）"),
    Said("feature_request", NEUTRAL, "ダークモードに対応してほしいです"),
    Said("ui_confusion", NEUTRAL, "レシピの投稿ってどこからするんですか？ボタンが見つからない"),
    Said("ui_confusion", NEUTRAL, "つくれぽはどの画面から送ればいいのでしょう"),
    Said("ui_confusion", NEGATIVE, "新しいデザインになってから検索ボタンが見つけにくいです"),
    Said("ui_confusion", NEUTRAL, "保存したレシピの一覧はどこで見られますか"),
    Said("ui_confusion", NEUTRAL, "獲得したポイントを確認する画面がどこにあるのかわかりません"),
    Said("recipe_content", NEUTRAL, "{dish}のレシピ、砂糖の分量が多すぎる気がします。誤記では？"),
    Said("recipe_content", NEGATIVE, "{dish}の手順3と4の写真が逆になっていました"),
    Said(
        "recipe_content",
        NEGATIVE,
        "「卵不使用」とあるのにマヨネーズが材料に入っていました。アレルギーがあるので困ります",
    ),
    Said("other", NEUTRAL, "レシピコンテストの結果発表はいつ頃でしょうか"),
    Said("other", NEUTRAL, "楽天レシピのポイントキャンペーンはいつまでですか？"),
)

PAIRS = (
    Said("praise", POSITIVE, "Pairsで出会った方と来月結婚します。本当にありがとうございました"),
    Said("praise", POSITIVE, "サポートの返信が早くて丁寧でした。安心して使えています"),
    Said("praise", POSITIVE, "本人確認がしっかりしているので安心感があります"),
    Said("praise", POSITIVE, "コミュニティ機能のおかげで趣味の合う人と出会えました"),
    Said("praise", POSITIVE, "年齢確認の審査がすぐに終わってびっくりしました"),
    Said("bug_report", NEGATIVE, "メッセージを送信しても相手に届いていないようです"),
    Said("bug_report", NEGATIVE, "プロフィール写真を変更しようとするとアプリが固まります", ("ios",)),
    Said("bug_report", NEGATIVE, "いいねの残り数が表示と合っていません"),
    Said("bug_report", NEGATIVE, "プッシュ通知が来なくなりました（Android 15）", ("android",)),
    Said("bug_report", NEGATIVE, "年齢確認の書類をアップロードするとエラーになります"),
    Said("bug_report", NEGATIVE, "検索条件が保存されず、毎回リセットされてしまいます"),
    Said("feature_request", NEUTRAL, "ビデオ通話の前に日程を調整できる機能がほしいです"),
    Said("feature_request", NEUTRAL, "興味のあるコミュニティで相手を絞り込めるようにしてほしい"),
    Said("feature_request", NEUTRAL, "プロフィール文を下書き保存できると嬉しいです"),
    Said("feature_request", NEUTRAL, "ブロックした相手の一覧を見直せるようにしてほしい"),
    Said("ui_confusion", NEUTRAL, "退会の方法がわかりません。どこから手続きできますか"),
    Said("ui_confusion", NEUTRAL, "本人確認はどの画面からやればいいですか"),
    Said("ui_confusion", NEGATIVE, "有料会員の自動更新を止める設定が見つかりません"),
    Said("ui_confusion", NEUTRAL, "メッセージ付きいいねの送り方がわかりません"),
    Said("billing", NEGATIVE, "有料会員を解約したのに、今月も請求されています"),
    Said("billing", NEGATIVE, "App Storeで購入したポイントが反映されていません", ("ios",)),
    Said("billing", NEUTRAL, "3か月プランと1か月プランの料金の違いを教えてください"),
    Said("billing", NEGATIVE, "二重に課金されているようです。返金してもらえますか"),
    Said("billing", NEUTRAL, "領収書を発行してほしいのですが、どこから出せますか"),
    Said("billing", NEUTRAL, "途中でプランを変更したら料金は日割りになりますか"),
    Said("other", NEGATIVE, "業者のようなアカウントからメッセージが来たので通報しました"),
    Said("other", NEUTRAL, "Facebookに何か投稿されることはありませんか？友人に知られたくなくて"),
)


@dataclass(frozen=True)
class Voices:
    """One service's voices and where they are heard, and which category each kind of week favours."""

    said: tuple[Said, ...]
    channels: tuple[tuple[str, int], ...]
    even_week: str
    odd_week: str


SERVICES = {
    "recipe": Voices(RECIPE, (("x", 55), ("instagram", 25), ("app_review", 20)), "bug_report", "praise"),
    "pairs": Voices(PAIRS, (("email", 70), ("app_review", 20), ("x", 10)), "billing", "bug_report"),
}
SOURCES = {
    "x": "https://x.com/{user}/status/{number}",
    "instagram": "https://www.instagram.com/p/{code}/",
    "app_review": "https://apps.apple.com/jp/app/id{app}?see-all=reviews",
}
APPS = {"recipe": 527452458, "pairs": 583376064}


def hears(service_code: str, work_type: str) -> bool:
    """Whether a contract's items carry users' voices in the demo."""
    return service_code in SERVICES and work_type in WORK_TYPES


def _source(rng: random.Random, channel: str, service_code: str) -> str | None:
    pattern = SOURCES.get(channel)
    if pattern is None:
        return None
    return pattern.format(
        user=f"user{rng.randrange(10_000, 99_999)}",
        number=rng.randrange(10**18, 2 * 10**18),
        code="".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789_", k=11)),
        app=APPS[service_code],
    )


def with_voices(
    service_code: str, contract_id: uuid.UUID, day: date, items: Sequence[WorkItemIn], volume: int
) -> list[WorkItemIn]:
    """``items`` (one day's, of a contract that ``hears`` and receives about ``volume`` items a day), about
    PER_DAY of them carrying a user's voice. Each item's voice is drawn from the item alone, so it is the
    same whichever of the day's items exist yet."""
    voices = SERVICES[service_code]
    favoured = voices.even_week if day.isocalendar().week % 2 == 0 else voices.odd_week
    weights = [4 if said.category == favoured else 1 for said in voices.said]
    share = PER_DAY / max(volume, PER_DAY)
    carried = []
    for item in items:
        rng = random.Random(f"{contract_id}:{item.external_id}:voice")
        if rng.random() >= share:
            carried.append(item)
            continue
        said = rng.choices(voices.said, weights)[0]
        channel = rng.choices([c for c, _ in voices.channels], [w for _, w in voices.channels])[0]
        earlier = timedelta(minutes=rng.randint(0, 90)) if channel != "email" else timedelta()
        update = said.category == "bug_report" and favoured == said.category
        voice = VoiceIn(
            text=said.text.format(dish=rng.choice(DISHES)),
            observed_at=item.received_at - earlier,
            source_url=_source(rng, channel, service_code),
            channel=channel,
            language="ja",
            category=said.category,
            sentiment=said.sentiment,
            tags=[*said.tags, *(["update"] if update else [])],
            # Only ever set: an operator's highlight is not undone by the next run.
            highlighted=True if rng.random() < HIGHLIGHTED else None,
        )
        carried.append(replace(item, voice=voice))
    return carried
