import numpy as np
import torch
from PIL import Image

from gankit.export import grid, save_npz, save_png


def test_grid_tiles_images_in_rows_with_padding():
    images = torch.stack([torch.full((1, 2, 2), v, dtype=torch.uint8) for v in (10, 20, 30)])
    g = grid(images, nrow=2, pad=1)
    assert g.shape == (1 + 2 * 3, 1 + 2 * 3)
    assert g[1, 1] == 10 and g[1, 4] == 20 and g[4, 1] == 30 and g[4, 4] == 0 and g[0, 0] == 0


def test_npz_layouts_for_gray_and_color(tmp_path):
    gray = save_npz(torch.zeros(3, 1, 8, 8), tmp_path / "g.npz")
    color = torch.zeros(2, 3, 4, 4)
    color[:, 0] = 1.0  # pure red
    rgb = save_npz(color, tmp_path / "c.npz")
    assert np.load(gray)["images"].shape == (3, 8, 8)
    arr = np.load(rgb)["images"]
    assert arr.shape == (2, 4, 4, 3) and arr.dtype == np.uint8
    assert (arr[..., 0] == 255).all() and (arr[..., 1] == 128).all()  # 0.0 maps to 127.5 -> 128


def test_png_of_points_is_a_scatter_plot(tmp_path):
    path = save_png(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), tmp_path / "p.png")
    img = np.asarray(Image.open(path))
    assert img.shape == (512, 512, 3) and (img == (250, 200, 60)).all(-1).sum() >= 2
