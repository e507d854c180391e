"""run_to_end: the synchronous form of the package's step-by-step generators."""

from __future__ import annotations

from napari_motion_deblur._generators import run_to_end


def test_run_to_end_consumes_every_step_and_returns_the_value():
    seen = []

    def steps():
        for k in range(3):
            seen.append(k)
            yield k
        return "done"

    assert run_to_end(steps()) == "done"
    assert seen == [0, 1, 2]


def test_run_to_end_of_a_generator_without_steps():
    def nothing():
        return 7
        yield  # pragma: no cover - makes this a generator

    assert run_to_end(nothing()) == 7
