"""Places named offline as a person would, from known coordinates; the search index against a brute-force scan."""

from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest

from reelset.taste import places
from reelset.taste.places import CENTRE_KM, SEARCH_KM, place_of, places_of


@pytest.fixture(scope="module", autouse=True)
def loaded():
    """The data, loaded once for the module (a few seconds)."""
    place_of(0.0, 0.0)


@pytest.mark.parametrize(("where", "lat", "lon", "name"), [
    # Landmarks: the city, not the suburb or district whose GeoNames point is nearer.
    ("Eiffel Tower", 48.8584, 2.2945, "Paris, France"),  # nearest points: "Paris 16 Passy", Neuilly, Vanves
    ("Statue of Liberty", 40.6892, -74.0445, "New York City, United States"),  # nearest: Battery Park City
    ("Golden Gate Bridge", 37.8199, -122.4783, "San Francisco, United States"),  # nearest: Sausalito
    ("Sydney Opera House", -33.8568, 151.2153, "Sydney, Australia"),  # nearest: The Rocks
    ("Shibuya crossing", 35.6595, 139.7005, "Tokyo, Japan"),  # GeoNames also lists the ward Shibuya, 0.6 km
    # Places next to a big city keep their own names.
    ("Palace of Versailles", 48.8049, 2.1204, "Versailles, France"),
    ("Newark", 40.7357, -74.1724, "Newark, United States"),
    ("Fort Lee", 40.8509, -73.9701, "Fort Lee, United States"),
    ("Manly beach", -33.7969, 151.2877, "Manly, Australia"),
    # A numbered district is named as its city.
    ("Paris 16e", 48.8637, 2.2769, "Paris, France"),
    ("Vieux-Port", 43.2951, 5.3740, "Marseille, France"),
    # Small towns far from any city: the town, even 12 km away.
    ("Longyearbyen", 78.2232, 15.6267, "Longyearbyen, Svalbard and Jan Mayen"),
    ("Uluru", -25.3444, 131.0369, "Yulara, Australia"),
])
def test_known_places(where, lat, lon, name):
    place = place_of(lat, lon)
    assert place is not None, where
    assert place.name == name, where


def test_place_fields():
    place = place_of(48.8584, 2.2945)
    assert (place.city, place.country, place.country_code, place.timezone) == ("Paris", "France", "FR", "Europe/Paris")
    assert place.lat == pytest.approx(48.8534, abs=0.01) and place.lon == pytest.approx(2.3488, abs=0.01)
    assert place.distance_km == pytest.approx(4.0, abs=0.1)
    assert place.population > 2_000_000 and place.geonameid == 2988507


@pytest.mark.parametrize(("lat", "lon"), [
    (0.0, -30.0),  # mid Atlantic
    (-48.8767, -123.3933),  # Point Nemo, farthest from land
    (90.0, 0.0), (-90.0, 0.0),  # the poles
    (0.0, 180.0), (10.0, -180.0),  # the antimeridian, at sea
])
def test_nowhere_near_any_place(lat, lon):
    assert place_of(lat, lon) is None


@pytest.mark.parametrize(("lat", "lon"), [(None, 2.0), (48.0, None), (math.nan, 2.0), (91.0, 0.0), (0.0, 180.5),
                                          ("48.8", "2.29")])
def test_not_a_coordinate_is_no_place(lat, lon):
    assert place_of(lat, lon) is None


def test_many_points_at_once_match_one_by_one_and_are_fast():
    rnd = random.Random(14)
    points = [(rnd.uniform(35, 60), rnd.uniform(-10, 30)) for _ in range(5000)]  # Europe: many places each
    started = time.perf_counter()
    found = places_of(points)
    elapsed = time.perf_counter() - started
    assert len(found) == len(points)
    assert sum(place is not None for place in found) > 2500
    for index in range(0, len(points), 250):
        assert found[index] == place_of(*points[index])
    assert elapsed < 5, f"{elapsed:.1f} s for 5,000 points"


def test_index_finds_what_a_scan_of_every_place_finds():
    """The banded index must miss no place within SEARCH_KM: across bands, at the antimeridian and near the poles."""
    rnd = random.Random(6709)
    points = [(rnd.uniform(-89.9, 89.9), rnd.uniform(-180, 180)) for _ in range(80)]
    points += [(rnd.uniform(-30, 70), rnd.choice([-1, 1]) * rnd.uniform(179.4, 180)) for _ in range(40)]
    points += [(rnd.uniform(48.0, 49.0), rnd.uniform(1.5, 3.0)) for _ in range(60)]  # dense: around Paris
    points += [(rnd.uniform(40.3, 41.0), rnd.uniform(-74.5, -73.5)) for _ in range(60)]  # and New York
    points += [(rnd.uniform(77.5, 89.9), rnd.uniform(-180, 180)) for _ in range(20)]
    points += [(band_edge + offset, 10.0) for band_edge in (48.0, 48.5, -33.5) for offset in (-1e-9, 0.0, 1e-9)]
    gazetteer = places._gazetteer()
    got = places_of(points)
    lat, lon = np.radians([point[0] for point in points]), np.radians([point[1] for point in points])
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    nearest_cosine = math.cos(SEARCH_KM / places._EARTH_KM) - 1e-9
    for start in range(0, len(points), 64):  # every place against 64 points at a time: one matrix product
        cosines = gazetteer.xyz @ xyz[start:start + 64].T
        for column in range(cosines.shape[1]):
            near = np.flatnonzero(cosines[:, column] >= nearest_cosine)
            distance = places._chord_to_km(np.linalg.norm(gazetteer.xyz[near] - xyz[start + column], axis=1))
            score = np.where(distance <= SEARCH_KM, gazetteer.reach[near] / np.maximum(distance, CENTRE_KM), -1.0)
            best = int(near[np.argmax(score)]) if len(near) and score.max() >= 0 else None
            expected = None if best is None else int(gazetteer.geonameids[gazetteer.named_as[best]])
            place = got[start + column]
            assert (place and place.geonameid) == expected, points[start + column]
    assert sum(place is not None for place in got) > 100
