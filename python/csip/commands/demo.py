"""``csip demo``: symmetric Force Banners of a few built-in scenes, saved as a picture."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("csip-out"),
              show_default=True, help="Directory for sfb_demo.png, sfb_demo.npz and sfb_demo.json.")
@click.option("--n", "n_scenes", type=click.IntRange(1, 12), default=4, show_default=True,
              help="Number of synthetic scenes to show.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the synthetic scenes.")
@click.option("--n-angles", type=click.IntRange(1, 3600), default=180, show_default=True)
def demo(out_dir: Path, n_scenes: int, seed: int, n_angles: int) -> None:
    """Compute the sFB of built-in synthetic scenes and save them beside their masks."""
    from ..viz.demo import sfb_demo  # numpy and csip_core: lazy, so that `csip demo --help` stays fast

    res = sfb_demo(out_dir, n_scenes, seed, n_angles)
    click.echo(f"{n_scenes} banners of shape {tuple(res['shape'][1:])} in {res['seconds'] * 1e3:.1f} ms")
    click.echo(f"figure: {res['png']}")
