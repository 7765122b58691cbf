"""Report: the last stage, an HTML report from a sweep's saved artefacts only. `stats` is what it says (per-seed
labels, pooled fractions with their intervals, sentences from stated rules), `figures` its figures with their
captions, `pages` its HTML pieces and per-cell pages, `families` its families section, and `build` puts them
together and writes it (`hyperinterp report`). Modules, in the data's order: stats, figures, pages, families,
build."""
