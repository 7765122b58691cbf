"""Generate: the first stage, from a task to generated networks. A task (`tasks`, its symmetries in `symmetry`)
defines the target the target family (`target`) is fitted to; the equivariant hypernetwork (`kernels`, `slots`,
`hypernet`) turns noise and beta into a distribution over weights, whose description length (`complexity`) and
error make the loss; `curriculum` schedules a training, `config` states it, `train` and `batched` (many seeds at
once) run it and `checkpoint` saves it; `sample` draws networks from a saved generator and `netfile` writes them
to the `.npz` file every later stage reads. Modules, in the data's order: tasks, symmetry, target, complexity,
kernels, slots, hypernet, curriculum, config, train, batched, checkpoint, sample, netfile."""
