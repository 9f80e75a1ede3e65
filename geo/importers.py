"""Reading boundary features from vector files through GDAL.

Any format GDAL reads works: GeoJSON, TopoJSON, Shapefile, GeoPackage, and the rest. Each feature
comes out with a code, a name and a geometry in WGS84 (SRID 4326); nothing here writes to the
database (``geo.areas.area_upsert`` does that).

A ``where`` filter is handed to OGR (``OGR_L_SetAttributeFilter``), so it takes the WHERE clause
of OGR SQL: ``PFA20CD = 'E23000016'``, ``LAD13NM IN ('Worcester', 'Wychavon')``,
``POP > 1000 AND NAME LIKE 'West%'``, ``CODE IS NOT NULL``. Strings are in single quotes,
``=`` and ``IN`` compare whole values (``'Wyre'`` does not match ``'Wyre Forest'``); ``LIKE``
(case-sensitive) and ``ILIKE`` take ``%`` as the wildcard. See https://gdal.org/user/ogr_sql_dialect.html.
"""

from collections.abc import Iterator
from ctypes import c_char_p, c_void_p
from dataclasses import dataclass
from pathlib import Path

from django.contrib.gis.gdal import (
    CoordTransform,
    DataSource,
    GDALException,
    OGRGeometry,
    SpatialReference,
)
from django.contrib.gis.gdal.layer import Layer
from django.contrib.gis.gdal.libgdal import lgdal
from django.contrib.gis.gdal.prototypes.generation import void_output
from django.contrib.gis.geos import GEOSGeometry

# Django wraps OGR's spatial filter but not its attribute filter; this is the same C call,
# declared the way Django declares its own (an OGRErr result turned into GDALException).
_set_attribute_filter = void_output(lgdal.OGR_L_SetAttributeFilter, [c_void_p, c_char_p])
_last_error_message = lgdal.CPLGetLastErrorMsg
_last_error_message.argtypes = []
_last_error_message.restype = c_char_p
_reset_last_error = lgdal.CPLErrorReset
_reset_last_error.argtypes = []
_reset_last_error.restype = None

WGS84 = 4326


class SourceError(Exception):
    """A file, layer, field or filter that cannot be read as asked; the message says which."""


@dataclass(frozen=True)
class SourceFeature:
    fid: int
    code: str
    name: str
    # In WGS84 (SRID 4326), two-dimensional; None when the feature has no geometry.
    geom: GEOSGeometry | None


def layer_names(path: str | Path) -> list[str]:
    source = _open(path)
    return [source[i].name for i in range(len(source))]


class LayerReader:
    """The features of one layer of a vector file, with their code and name fields.

    ``layer`` may be left out when the file has a single layer. Every problem that can be seen
    before reading (an unreadable file, an unknown layer or field, a bad filter) raises
    ``SourceError`` here, not halfway through the iteration.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        code_field: str,
        name_field: str,
        layer: str | None = None,
        where: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.code_field = code_field
        self.name_field = name_field
        self.where = where or None
        self._source = _open(self.path)
        self._layer = _choose_layer(self._source, self.path, layer)
        self.layer_name: str = self._layer.name
        fields = list(self._layer.fields)
        for option, field in (("code", code_field), ("name", name_field)):
            if field not in fields:
                raise SourceError(
                    f"Layer {self.layer_name!r} of {self.path} has no {option} field "
                    f"{field!r}; its fields are: {', '.join(fields)}"
                )
        # Before the filter: a filter that matches nothing leaves no extent to check.
        self._transform = _transform_to_wgs84(self._layer, self.path)
        if self.where:
            _apply_filter(self._layer, self.path, self.where, fields)
        self.source_srs = _describe_srs(self._layer.srs)

    def __len__(self) -> int:
        """The number of features that pass the filter."""
        return len(self._layer)

    def __iter__(self) -> Iterator[SourceFeature]:
        for feature in self._layer:
            try:
                ogr = feature.geom
            except GDALException:  # OGR returns no geometry at all for a null one
                ogr = None
            yield SourceFeature(
                fid=feature.fid,
                code=_text(feature.get(self.code_field)),
                name=_text(feature.get(self.name_field)),
                geom=self._to_geos(ogr),
            )

    def _to_geos(self, ogr: OGRGeometry | None) -> GEOSGeometry | None:
        if ogr is None or ogr.empty:
            return None
        if self._transform is not None:
            ogr.transform(self._transform)
        if ogr.is_3d:
            ogr.set_3d(False)
        return GEOSGeometry(memoryview(ogr.wkb), srid=WGS84)


def _open(path: str | Path) -> DataSource:
    path = Path(path)
    if not path.exists():
        raise SourceError(f"No such file: {path}")
    try:
        return DataSource(str(path))
    except GDALException as error:
        raise SourceError(f"GDAL cannot read {path} as vector data ({error})") from error


def _choose_layer(source: DataSource, path: Path, name: str | None) -> Layer:
    names = [source[i].name for i in range(len(source))]
    if name is None:
        if len(names) == 1:
            return source[0]
        raise SourceError(f"{path} has {len(names)} layers; choose one of: {', '.join(names)}")
    if name not in names:
        raise SourceError(f"{path} has no layer {name!r}; its layers are: {', '.join(names)}")
    return source[name]


def _apply_filter(layer: Layer, path: Path, where: str, fields: list[str]) -> None:
    _reset_last_error()
    try:
        _set_attribute_filter(layer.ptr, where.encode())
    except GDALException as error:
        detail = (_last_error_message() or b"").decode(errors="replace") or str(error)
        raise SourceError(
            f"Cannot filter layer {layer.name!r} of {path} with {where!r}: {detail} "
            f"(its fields are: {', '.join(fields)})"
        ) from error


def _transform_to_wgs84(layer: Layer, path: Path) -> CoordTransform | None:
    srs = layer.srs
    if srs is None:
        # TopoJSON and some GeoJSON carry no SRS; their coordinates are longitude and latitude
        # by convention, which the extent can at least confirm.
        try:
            extent = layer.extent
        except GDALException:  # no features, so nothing to transform
            return None
        if not (-180 <= extent.min_x <= extent.max_x <= 180) or not (
            -90 <= extent.min_y <= extent.max_y <= 90
        ):
            raise SourceError(
                f"Layer {layer.name!r} of {path} has no spatial reference and its extent "
                f"{extent.tuple} is not longitude and latitude"
            )
        return None
    if srs.srid == WGS84:
        return None
    return CoordTransform(srs, SpatialReference(WGS84))


def _describe_srs(srs: SpatialReference | None) -> str:
    if srs is None:
        return "no SRS (read as WGS84)"
    if srs.srid:
        return f"EPSG:{srs.srid}"
    return srs.name or "an SRS without an EPSG code"


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()
