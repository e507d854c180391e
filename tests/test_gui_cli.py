"""Getting to the GUI (issue 10, problem 9): ``demo --gui`` without napari says how to install
it, and the README gives the install line where it introduces the GUI."""

from __future__ import annotations

import sys
from pathlib import Path

from napari_motion_deblur import cli


def test_demo_gui_without_napari_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "napari", None)  # "import napari" raises ImportError
    assert cli.main(["demo", "--gui"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") <= 2
    assert "napari" in err and 'pip install "napari-motion-deblur[all]"' in err


def test_readme_gives_the_gui_install_line_where_it_introduces_the_gui():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using the plugin", 1)[1].split("\n## ", 1)[0]
    intro = section.split("napari-motion-deblur demo --gui", 1)[0]
    assert 'pip install -e ".[all]"' in intro or "napari-motion-deblur[all]" in intro
