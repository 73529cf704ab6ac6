"""Vectors -> pictures.

- projection: project (UMAP / PCA, cached), place (new points on an existing map)
- clusters: cluster, cluster_names; plots: map_figure, label_spots, selected_positions
"""
