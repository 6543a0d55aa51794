"""The naive segment baseline: k-means over tf-idf of weighted item events plus search words.

What an analyst would do without Linli's segment features: one row per user holding the
user's decayed, event-weighted item interactions (the feature store's `weights` matrix) and
the words the user searched for, tf-idf weighted, reduced with TruncatedSVD, rows
normalised, then k-means with the number of clusters given (the true k where there is a
truth). Pure function of its inputs and seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.matrix import Interactions
from training.segment_motives import search_word_counts

SVD_DIMENSIONS = 50


def naive_segments(inter: Interactions, events: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """Cluster label per user of `inter.users` (k-means on tf-idf + SVD)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    users = pd.Index(np.asarray(inter.users.ids, dtype=str))
    x = sp.hstack([inter.weights.tocsr(), search_word_counts(users, events)]).tocsr()
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(x)
    dims = max(1, min(SVD_DIMENSIONS, tfidf.shape[1] - 1, tfidf.shape[0] - 1))
    z = TruncatedSVD(n_components=dims, random_state=seed).fit_transform(tfidf)
    z = normalize(z)
    k = max(1, min(k, len(z)))
    labels: np.ndarray = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    return labels
