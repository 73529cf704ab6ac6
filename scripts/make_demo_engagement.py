"""Write plausible engagement columns (views, likes, comments, forwards) into data/demo/posts.csv.

    .venv/bin/python scripts/make_demo_engagement.py     # seeded: the same numbers every time

The numbers are simulated from what a real Telegram audience reacts to, so the Outcomes page
has something true to find in the text and something it cannot (reach):
  * views: the channel's subscribers times a reach share (lower for ads, heavy-tailed noise,
    the odd post forwarded far beyond the channel) - mostly NOT in the text;
  * likes, comments, forwards per view: a base rate per topic, moved by what the text says -
    an ad (fewer of everything), a giveaway (likes and comments), a question to the reader
    (comments), a long useful post (forwards), a short joke (likes) - and drawn binomially
    with overdispersion, so two similar posts still differ.
Only new columns are added: every existing cell (the text above all) stays byte-identical, so
embedding caches stay valid.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
POSTS, CHANNELS = ROOT / "data" / "demo" / "posts.csv", ROOT / "data" / "demo" / "channels.csv"
COLUMNS = ("views", "likes", "comments", "forwards")
SEED = 14

# per topic: (likes, comments, forwards) per view
RATES = {
    "Новости": (0.012, 0.0020, 0.0060), "Технологии": (0.018, 0.0030, 0.0040),
    "Финансы и крипта": (0.015, 0.0035, 0.0050), "Юмор": (0.045, 0.0030, 0.0120),
    "Спорт": (0.025, 0.0050, 0.0030), "Еда и рецепты": (0.030, 0.0020, 0.0080),
    "Путешествия": (0.030, 0.0020, 0.0050), "Образование": (0.020, 0.0025, 0.0070),
    "Игры": (0.028, 0.0060, 0.0030), "Красота и мода": (0.035, 0.0040, 0.0030),
    "Маркетинг и бизнес": (0.014, 0.0025, 0.0045), "Авто": (0.020, 0.0045, 0.0030),
}
GIVEAWAY = re.compile(r"розыгрыш|разыгрыва|дарим|конкурс|приз", re.I)


def multipliers(text: str, is_ad: bool) -> tuple[float, float, float, float]:
    """(reach, likes, comments, forwards) multipliers from what the text says."""
    length = len(text)
    reach, likes, comments, forwards = 1.0, 1.0, 1.0, 1.0
    if is_ad:
        reach, likes, comments, forwards = 0.6, 0.35, 0.4, 0.25
    if GIVEAWAY.search(text):
        likes, comments = likes * 1.8, comments * 4.0
    if "?" in text:
        comments *= 2.2
    if length < 300:
        likes *= 1.3
    if length > 900:
        forwards, likes = forwards * 1.6, likes * 0.85
    return reach, likes, comments, forwards


def simulate(posts: pd.DataFrame, channels: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    info = channels.set_index("id")
    rows = []
    for _, post in posts.iterrows():
        subs = float(info.at[post["channel_id"], "subscribers"])
        topic = info.at[post["channel_id"], "category"]
        reach, *mult = multipliers(post["raw_text"], post["is_ad"] == "1")
        share = reach * 0.28 * rng.lognormal(0.0, 0.45)
        if rng.random() < 0.04:                       # reposted far outside the channel
            share *= 1 + rng.pareto(1.5) * 3
        views = max(20, int(subs * min(share, 4.0)))
        counts = []
        for base, m in zip(RATES[topic], mult):
            p = min(0.5, base * m * rng.lognormal(0.0, 0.35))   # overdispersion: posts differ
            counts.append(int(rng.binomial(views, p)))
        rows.append((views, *counts))
    return pd.DataFrame(rows, columns=list(COLUMNS), index=posts.index)


def main() -> None:
    raw = POSTS.read_text(encoding="utf-8")
    posts = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)
    channels = pd.read_csv(CHANNELS, dtype={"id": str})
    posts = posts.drop(columns=[c for c in COLUMNS if c in posts])
    out = pd.concat([posts, simulate(posts, channels)], axis=1)
    POSTS.write_text(out.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
    e = out[list(COLUMNS)].astype(float)
    print(f"{len(out)} posts: views median {e['views'].median():.0f}, max {e['views'].max():.0f}; "
          f"likes/views {e['likes'].sum() / e['views'].sum():.4f}")


if __name__ == "__main__":
    main()
