"""Tiles for the tile tests: which tile holds a place, and what a tile holds, decoded."""

import math
from typing import Any

import mapbox_vector_tile
from django.db import connection

LonLat = tuple[float, float]


def tile_of(lonlat: LonLat, z: int) -> tuple[int, int, int]:
    """The z/x/y of the Web Mercator tile holding a WGS84 point."""
    n = 1 << z
    x = int((lonlat[0] + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lonlat[1]))) / math.pi) / 2.0 * n)
    return z, x, y


def url(layer: str, zxy: tuple[int, int, int]) -> str:
    return f"/tiles/{layer}/{zxy[0]}/{zxy[1]}/{zxy[2]}.mvt"


def decoded(response: Any, layer: str) -> list[dict[str, Any]]:
    """The features of a tile response (none for a 204), y pointing down as in the tile."""
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    layers = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})
    assert set(layers) <= {layer}, set(layers)
    return list(layers[layer]["features"]) if layers else []


def properties(response: Any, layer: str) -> list[dict[str, Any]]:
    return [feature["properties"] for feature in decoded(response, layer)]


def tile_point(lonlat: LonLat, zxy: tuple[int, int, int]) -> tuple[int, int]:
    """Where PostGIS's own ST_AsMVTGeom puts a WGS84 point in a tile: the oracle."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(g), ST_Y(g) FROM ST_AsMVTGeom("
            " ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 3857),"
            " ST_TileEnvelope(%s, %s, %s), 4096, 64, true) AS g",
            [lonlat[0], lonlat[1], *zxy],
        )
        x, y = cursor.fetchone()
    return int(x), int(y)


def tile_centre(zxy: tuple[int, int, int]) -> LonLat:
    """The WGS84 centre of a tile."""
    z, x, y = zxy
    n = 1 << z
    lon = (x + 0.5) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return lon, lat
