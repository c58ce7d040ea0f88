"""A pipeline's graph: its steps by depth (``PipelineSpec.layers``) and the
SVG the job panel draws from them (a box a step, an arrow a need)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlnb.pipelines.spec import PipelineSpec
from mlnb.widgets.job_panel import pipeline_graph

SVG = "{http://www.w3.org/2000/svg}"


def diamond() -> PipelineSpec:
    def step(name: str, *needs: str) -> dict[str, object]:
        return {"name": name, "needs": list(needs), "setDefault": {"model": "m", "version": "v"}}

    # Written out of order: the spec orders them, the layers follow the needs.
    return PipelineSpec.from_api(
        {
            "steps": [
                step("merge", "left", "right"),
                step("left", "fetch"),
                step("fetch"),
                step("right", "fetch"),
            ]
        }
    )


def test_layers_put_each_step_one_below_the_deepest_step_it_needs() -> None:
    spec = diamond()
    assert spec.layers() == [["fetch"], ["left", "right"], ["merge"]]
    chain = PipelineSpec.from_api(
        {
            "steps": [
                {"name": "a", "setDefault": {"model": "m", "version": "v"}},
                {"name": "b", "needs": ["a"], "setDefault": {"model": "m", "version": "v"}},
                {"name": "c", "needs": ["a", "b"], "setDefault": {"model": "m", "version": "v"}},
            ]
        }
    )
    assert chain.layers() == [["a"], ["b"], ["c"]]


def test_the_graph_has_a_box_a_step_coloured_by_state_and_an_arrow_a_need() -> None:
    spec = diamond()
    states = {"fetch": "SUCCEEDED", "left": "FAILED", "right": "RUNNING", "merge": "PENDING"}
    progress = {
        "steps": [{**s.to_api(), "action": "setDefault", "state": states[s.name]} for s in spec.steps],
        "layers": spec.layers(),
    }
    drawn = pipeline_graph(progress).replace("<svg ", f"<svg xmlns='{SVG[1:-1]}' ", 1)
    svg = ET.fromstring(drawn)  # noqa: S314 (our own output)
    boxes = {g.get("data-step"): g for g in svg.iter(f"{SVG}g")}
    assert set(boxes) == set(states)
    rect = {name: box.find(f"{SVG}rect") for name, box in boxes.items()}
    assert rect["left"].get("stroke") == "#d93025" and rect["fetch"].get("stroke") == "#188038"
    # Left to right by layer; the two of the middle layer one above the other.
    assert float(rect["fetch"].get("x")) < float(rect["left"].get("x")) < float(rect["merge"].get("x"))
    assert rect["left"].get("x") == rect["right"].get("x") and rect["left"].get("y") != rect["right"].get("y")
    assert len(list(svg.iter(f"{SVG}line"))) == 4  # fetch->left, fetch->right, left->merge, right->merge
    assert [t.text for t in boxes["left"].iter(f"{SVG}text")] == ["left", "FAILED"]


def test_no_layers_no_graph() -> None:
    assert pipeline_graph({"steps": [{"name": "a", "state": "PENDING"}]}) == ""
    assert pipeline_graph(None) == ""
