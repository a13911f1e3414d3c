"""``summary.md``: the study's tables in Markdown (Table 2, verdicts, references, Table 3, the
budget check, the commands that reproduce every number)."""

from __future__ import annotations

from .layouts_report import layouts_markdown
from .table import DISPLAY


def _pm(st: dict | None, digits: int = 2) -> str:
    if not st:
        return "—"
    return f"{st['mean']:.{digits}f} ± {st['std']:.{digits}f}"


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def table2_markdown(means: list[dict], rows: list[dict], seeds: list[int]) -> list[str]:
    """Table 2: per encoder and training, NDCG@10 per seed, mean ± std, max − min, NDCG@25,
    SRR Acc@1, VQA accuracy and the supervised val accuracy (points)."""
    head = ("| encoder | training | features | " + " | ".join(f"@10 seed {s}" for s in seeds)
            + " | NDCG@10 | max−min | NDCG@25 | SRR Acc@1 | VQA acc | sup. val acc |")
    lines = [head, "|---|---|---|" + "---:|" * (len(seeds) + 6)]
    for m in means:
        per = {r["seed"]: r["ndcg@10"] for r in rows if r["encoder"] == m["encoder"] and r["training"] == m["training"]}
        cells = [("—" if per.get(s) is None else f"{100 * per[s]:.2f}") for s in seeds]
        n10 = m["ndcg@10"]
        rng = "—" if not n10 else f"{n10['range']:.2f}"
        lines.append(f"| {m['encoder']} | {DISPLAY[m['training']]} | {m['features']} | " + " | ".join(cells)
                     + f" | **{_pm(n10)}** | {rng} | {_pm(m['ndcg@25'])}"
                     + f" | {_pm(m['srr_acc@1'], 1)} | {_pm(m['vqa_accuracy'], 1)} | {_pm(m['val_acc'], 1)} |")
    return lines


def verdict_lines(verdicts: dict) -> list[str]:
    lines = []
    for enc, v in verdicts.items():
        for base in ("random-init", "supervised"):
            d = v.get(f"vs {base}")
            if not d:
                continue
            call = d["beats_by_more_than_spread"]
            word = ("no verdict (one seed)" if call is None else
                    "**beats it by more than the spread**" if call else "**does not beat it by more than the spread**")
            lines.append(f"- `{enc}`: C-SIP − {base}: margin {d['margin']:+.2f} points (paired per seed: "
                         + ", ".join(f"{x:+.2f}" for x in d["paired_differences"])
                         + f"), spread {d['spread']:.2f} → {word}"
                         + ("; no overlap between seeds" if d["no_overlap"] else "; the seed ranges overlap"))
    return lines


def summary_markdown(doc: dict) -> str:
    """The whole ``summary.md`` from the ``summary.json`` document."""
    s = doc["settings"]
    seeds = s["seeds"]
    refs = doc["references"]
    lines = [
        "# csip run — the built-in study (paper, Table 2 / Fig. 4 / Table 3)",
        "",
        f"CBIR NDCG@k (points) on the `{s['eval_split']}` split of {s['n']} built-in synthetic scenes "
        f"({s['image_size']} px crops), mean ± sample std over seeds {', '.join(map(str, seeds))}. Each trained "
        f"row is the checkpoint with the best val `{doc['select']}` over {s['epochs']} epochs. C-SIP rows "
        f"rank by `{s['features']}` features "
        f"({'g_v∘f_v, the shared image–banner space' if s['features'] == 'embed' else 'f_v, before the projection'}); "
        "the others by f_v.",
        "",
        "## Table 2",
        "",
        *table2_markdown(doc["means"], doc["rows"], seeds),
        "",
        f"References: random ranking NDCG@10 {_num(refs['cbir_random_ranking_ndcg@10'])}; SRR class prior "
        f"Acc@1 {_num(refs['srr_class_prior_acc@1'])}; VQA text only {_num(refs['vqa_text_only'])}.",
        "",
        "## Verdicts (NDCG@10)",
        "",
        *verdict_lines(doc["verdicts"]),
        "",
    ]
    if doc.get("alt_features"):
        lines += ["C-SIP with the other features (`" + doc["alt_features"] + "`), NDCG@10 mean over seeds: "
                  + ", ".join(f"`{e}` {v:.2f}" for e, v in doc["alt_means"].items()) + ".", ""]
    if doc.get("table3"):
        lines += ["## Table 3 (VQA accuracy, mean ± std over seeds)", "", "| encoder | inputs | accuracy |",
                  "|---|---|---:|"]
        lines += [
            f"| {r['encoder'] or '—'} | {r['inputs']} | {r['mean']:.2f} ± {r['std']:.2f} |" for r in doc["table3"]
        ]
        lines.append("")
    if doc.get("budget"):
        lines += [f"## Budget check (seed {seeds[0]}): best val {doc['select']} with {s['epochs']} epochs and with "
                  f"{2 * s['epochs']}", "", "| encoder | training | at budget (epoch) | at 2× (epoch) | gain | "
                  "sup. val acc at budget → 2× |", "|---|---|---:|---:|---:|---|"]
        for b in doc["budget"]:
            acc = (f"{_num(b.get('val_acc_at_budget'))} → {_num(b.get('val_acc_at_2x'))}"
                   if b["training"] == "supervised" else "")
            lines.append(
                f"| {b['encoder']} | {DISPLAY[b['training']]} | {_num(b['at_budget'])} ({b['epoch_at_budget']}) "
                f"| {_num(b['at_2x_budget'])} ({b['epoch_at_2x']}) | {_num(b['gain'], sign=True)} | {acc} |"
            )
        lines.append("")
    else:
        lines += [f"Budget check not run: `csip run --budget-check` with the same options adds it (it reuses every "
                  f"finished run and trains seed {seeds[0]} of each again with {2 * s['epochs']} epochs).", ""]
    lines += layouts_markdown(doc.get("layouts") or {})
    lines += ["## Reproduce", "", "Each (encoder, seed) row set comes from one command:", "", "```"]
    lines += doc["eval_commands"]
    lines += ["```", "", "Wall time per stage: " + ", ".join(f"{k} {_fmt_s(v)}" for k, v in doc["timings_s"].items())]
    return "\n".join(lines)


def _num(v, sign: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v:+.2f}" if sign else f"{v:.2f}"


__all__ = ["summary_markdown", "table2_markdown", "verdict_lines"]
