"""Inputs: planners' tables and OSM features read into the schema (layers, columns, candidates, osm_features,
postgis), coordinates (coords, crs), the project file, the standard profiles (profiles, with the TOMLs in profiles/)
and the settings rules (validate, tiles)."""
