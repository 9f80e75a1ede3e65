"""Planner and public layers as GeoJSON (being written)."""

from rest_framework.views import APIView


class HotspotListApi(APIView):
    pass


class PlaceListApi(APIView):
    pass


class AreaSummaryApi(APIView):
    pass


class PublicHotspotListApi(APIView):
    pass
