"""How the families (fingerprint clustering, any task) agree with the L1 rule-based labels (`classify`).

    python scripts/families_agreement.py FILE.npz [FILE.npz ...] [--json] [--group REGEX]

Prints the adjusted Rand index of the families against (1) the rule labels (the four algorithms,
`constant`, `other`), (2) the same with `other` split by the rules' own reason (hybrid, dense, one-sided
with a bad dense part), (3) only the networks the rules give an algorithm label; the homogeneity (every
family one label); (4) the index against the five labels of before 2026-12-05, when the rules called
near-constant networks `other` (to compare with the figures measured then); then the table family -> labels.
`--group 'seed_[0-9]+'` adds the index per group of files (the part of each path the pattern matches), within
the one clustering of all of them.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict

from sklearn.metrics import adjusted_rand_score, homogeneity_score

from hyperinterp.read import classify, families


def refined(result: dict) -> str:
    """The rule label, with `other` split by the kind of reason the rules gave."""
    label, reason = result["label"], result["reason"]
    if label != "other":
        return label
    for prefix, kind in (("hybrid", "hybrid"), ("dense", "dense"), ("no input served", "dense")):
        if reason.startswith(prefix):
            return f"other:{kind}"
    return "other:" + reason.split(" ")[0]  # positive/negative sides only, mechanism serves only ...


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="L1 networks files")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.add_argument("--group", help="a regular expression: the index per group of files whose paths it matches alike")
    args = p.parse_args()
    summary = families.summarise(args.files)
    results = [r for f in args.files for r in classify.classify_file(f)]
    fams = [net["family"] for net in summary["networks"]]
    labels = [r["label"] for r in results]
    pure = [i for i, lab in enumerate(labels) if lab in classify.ALGORITHMS]
    five = ["other" if lab == "constant" else lab for lab in labels]
    out = {
        "networks": len(fams), "families": len(summary["families"]),
        "ari_labels": adjusted_rand_score(labels, fams),
        "ari_five_labels": adjusted_rand_score(five, fams),
        "ari_refined": adjusted_rand_score([refined(r) for r in results], fams),
        "homogeneity": homogeneity_score(labels, fams),
        "ari_labelled_only": adjusted_rand_score([labels[i] for i in pure], [fams[i] for i in pure]) if pure else None,
        "labelled": len(pure),
        "table": families.agreement(summary, [refined(r) for r in results])["table"],
        "names": {f["id"]: f["name"] for f in summary["families"]},
    }
    if args.group:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, net in enumerate(summary["networks"]):
            found = re.search(args.group, net["file"])
            groups[found.group(0) if found else "(no match)"].append(i)
        out["ari_by_group"] = {g: adjusted_rand_score([labels[i] for i in idx], [fams[i] for i in idx])
                               for g, idx in sorted(groups.items())}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['networks']} networks, {out['families']} families")
    print(f"ARI vs the rule labels: {out['ari_labels']:.3f}")
    print(f"ARI vs the rule labels with other split by reason: {out['ari_refined']:.3f}")
    print(f"homogeneity (1: every family holds a single rule label): {out['homogeneity']:.3f}")
    if pure:
        print(f"ARI on the {len(pure)} networks with an algorithm label: {out['ari_labelled_only']:.3f}")
    print(f"ARI vs the five labels of before 2026-12-05 (constant inside other): {out['ari_five_labels']:.3f}")
    for g, ari in out.get("ari_by_group", {}).items():
        print(f"  {g}: ARI {ari:.3f}")
    for fid, row in out["table"].items():
        print(f"  {fid} ({out['names'][fid]}): {row}")


if __name__ == "__main__":
    main()
