"""Experiments: runs of the other stages at scale. `sweep` is the beta sweep (trainings and their evaluation cells
as independent jobs), `study` states one as a TOML file, `executor` runs the jobs in local processes or on Ray,
`baselines` trains target weights directly (no hypernetwork) for comparison, `bench` times training, generation
and the read-out, and `demo` is the README's main job from the shipped checkpoints to the report (each worker keeps
to its one core with the top-level `threads`). Modules, in the data's order: sweep, study, executor, baselines,
bench, demo."""
