"""Write data/demo/interactions.csv: synthetic readers of the demo posts, each with their own taste.

    .venv/bin/python scripts/make_demo_interactions.py     # seeded: the same file every time

120 users over 8 weeks. Each likes one to three topics (and, for a third of them, one channel
above all) and reads mostly there; a small share of what they open is the feed's popular
posts and random ones. Opening a post is a `view`; a post of their taste is liked often and
sometimes forwarded, anything else rarely. A user's interest can drift: a quarter of them pick
up one more topic in the second half, which a recency-weighted profile should follow.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"
SEED, USERS, WEEKS = 15, 120, 8
START = pd.Timestamp("2025-09-01T08:00:00")


def simulate(posts: pd.DataFrame, channels: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    topic = posts["channel_id"].map(channels.set_index("id")["category"]).to_numpy()
    topics = sorted(set(topic))
    popular = np.argsort(-posts["views"].astype(float).to_numpy())[:40]   # what the feed pushes to everyone
    rows = []
    for u in range(USERS):
        user = f"читатель-{u + 1:03d}"
        liked = list(rng.choice(topics, size=int(rng.integers(1, 4)), replace=False))
        later = rng.choice([t for t in topics if t not in liked]) if rng.random() < 0.25 else None
        channel = rng.choice(posts["channel_id"][np.isin(topic, liked)].unique()) if rng.random() < 0.33 else None
        seen: set[int] = set()
        for _ in range(int(rng.integers(15, 45))):
            when = START + pd.Timedelta(seconds=float(rng.uniform(0, WEEKS * 7 * 86400)))
            taste = liked + ([later] if later is not None and when > START + pd.Timedelta(weeks=WEEKS / 2) else [])
            pool = _pick_pool(rng, posts, topic, taste, channel, popular)
            pool = [i for i in pool if i not in seen]
            if not pool:
                continue
            item = int(rng.choice(pool))
            seen.add(item)
            fits = topic[item] in taste
            rows.append((user, posts["id"].iat[item], "view", when))
            if rng.random() < (0.55 if fits else 0.06):
                rows.append((user, posts["id"].iat[item], "like", when + pd.Timedelta(seconds=int(rng.integers(5, 600)))))
            if rng.random() < (0.12 if fits else 0.01):
                rows.append((user, posts["id"].iat[item], "forward", when + pd.Timedelta(seconds=int(rng.integers(5, 900)))))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "action", "ts"]).sort_values(["ts", "user_id"])
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame.reset_index(drop=True)


def _pick_pool(rng, posts, topic, taste, channel, popular) -> list[int]:
    """Where this view comes from: the favourite channel, the user's topics, the popular feed, anything."""
    r = rng.random()
    if channel is not None and r < 0.25:
        return list(np.flatnonzero(posts["channel_id"].to_numpy() == channel))
    if r < 0.75:
        return list(np.flatnonzero(np.isin(topic, taste)))
    if r < 0.9:
        return list(popular)
    return list(range(len(posts)))


def main() -> None:
    posts = pd.read_csv(DEMO / "posts.csv", dtype=str, keep_default_na=False)
    channels = pd.read_csv(DEMO / "channels.csv", dtype={"id": str})
    frame = simulate(posts, channels)
    frame.to_csv(DEMO / "interactions.csv", index=False, lineterminator="\n")
    print(f"{len(frame)} interactions of {frame['user_id'].nunique()} users on {frame['item_id'].nunique()} posts: "
          + ", ".join(f"{a} {n}" for a, n in frame["action"].value_counts().items()))


if __name__ == "__main__":
    main()
