import xml.etree.ElementTree as ET

import numpy as np
import pytest

from hyperinterp.errors import UserError
from hyperinterp.read import draw
from hyperinterp.read import references as R


@pytest.fixture()
def netfile_path(tmp_path):
    nets = [R.add_noise(R.make_reference("pudding_pos", 6, 14, 4.0), 0.01, 0),
            R.make_reference("convexity", 6, 14, 3.0), R.make_reference("double_sided", 6, 14, 3.0)]
    return R.save_references(tmp_path / "nets.npz", nets, ["pudding_pos", "convexity", "double_sided"])


def test_draw_file_writes_valid_png_and_svg(netfile_path, tmp_path):
    out = tmp_path / "pictures"
    files = draw.draw_file(netfile_path, out, max_networks=2)
    names = sorted(p.name for p in files)
    assert names == sorted(f"net{k:03d}_{kind}.{ext}" for k in range(2) for kind in ("graph", "heatmap")
                           for ext in ("png", "svg"))
    for p in files:
        data = p.read_bytes()
        assert len(data) > 1000
        if p.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            root = ET.fromstring(data)
            assert root.tag.endswith("svg")
    assert "pudding_pos" in (out / "net000_graph.svg").read_text()
    assert "inactive" in (out / "net000_graph.svg").read_text()
    assert not list(out.glob("*.tmp"))


def test_draw_file_bad_input(netfile_path, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(UserError):
        draw.draw_file(bad, tmp_path / "out")
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        draw.draw_file(netfile_path, afile)
    with pytest.raises(UserError):
        draw.draw_file(netfile_path, tmp_path / "o2", max_networks=0)


def test_graph_leaves_out_inactive_neurons():
    net = R.make_reference("double_sided", 3, 10, 3.0)
    from hyperinterp.read.classify import classify

    res = classify(**net)
    fig = draw.draw_graph(net["W"], net["a"], res)
    assert "6 of 10 neurons active" in fig.axes[0].get_title()
    import matplotlib.pyplot as plt

    plt.close(fig)
    assert np.isfinite(net["W"]).all()


def _texts(fig):
    """Every visible text object of a figure (titles, tick labels, colour bars, node names)."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_heatmap_rows_pair_each_inputs_two_sides_and_fonts_are_readable():
    import matplotlib.pyplot as plt

    from hyperinterp.read.classify import classify

    net = R.permute(R.make_reference("double_sided", 5, 14, 3.0), seed=2)  # neurons shuffled
    res = classify(**net)
    order, names = draw.neuron_order(res, 14)
    assert sorted(order) == list(range(14))
    sparse = [name.split()[0] for name in names if name.startswith("x")]
    assert sparse == [f"x{i}{s}" for i in range(5) for s in "+−"]  # (input, sign): each pair side by side
    assert all(name.startswith("·") for name in names[len(sparse):])  # the 4 spare neurons are inactive
    for fig in (draw.draw_heatmap(net["W"], net["b"], net["a"], res),
                draw.draw_graph(net["W"], net["a"], res),
                draw.draw_heatmaps({k: np.stack([v, v]) for k, v in net.items()}, [res, res])):
        sizes = [t.get_fontsize() for t in _texts(fig)]
        assert sizes and min(sizes) >= draw.SMALL >= 9
        plt.close(fig)
    fig = draw.draw_heatmap(net["W"], net["b"], net["a"], res)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == names
    plt.close(fig)
