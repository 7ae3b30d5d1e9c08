"""Network: the walking graph (graph: OSM/GraphML → arrays in metres, cached; re-exported here), snapping (snap),
the compiled searches (kernels, routing), catchment polygons (isochrones) and the online download (download)."""
# Every public name of graph.py, so that `from siting.network import …` works as before the regrouping, and keeps
# working for names added to graph.py later.
from .graph import *  # noqa: F401,F403
