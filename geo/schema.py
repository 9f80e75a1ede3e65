"""OpenAPI for GeoJSON features whose geometry is computed in the query, not a model field.

drf-spectacular documents a ``GeoFeatureModelSerializer``'s geometry from its model field;
a hotspot cell has none (its hexagon is rebuilt from resolution, i and j), so this
extension documents such serializers as Features with a Polygon geometry.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import build_array_type, build_object_type


class ComputedPolygonFeatureExtension(OpenApiSerializerExtension):
    target_class = "geo.apis.ComputedPolygonFeatureSerializer"
    match_subclasses = True
    priority = 1

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        serializer = self.target
        properties = auto_schema._map_serializer(serializer, direction, bypass_extensions=True)
        properties.pop("required", None)
        properties.pop("description", None)
        properties["properties"].pop(serializer.Meta.geo_field)
        feature: dict[str, Any] = {"type": {"type": "string", "enum": ["Feature"]}}
        id_field = getattr(serializer.Meta, "id_field", None)
        if id_field:
            feature["id"] = properties["properties"].pop(id_field)
        position = build_array_type({"type": "number"}, min_length=2)
        feature["geometry"] = build_object_type(
            properties={
                "type": {"type": "string", "enum": ["Polygon"]},
                "coordinates": build_array_type(build_array_type(position)),
            },
            required=["type", "coordinates"],
        )
        feature["properties"] = properties
        return build_object_type(properties=feature, required=["type", "geometry", "properties"])
