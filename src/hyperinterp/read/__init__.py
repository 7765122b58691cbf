"""Read: the read-out, which reads saved networks files only (never a generator): `netmath` is the numpy math
on one network, `references` the hand-built L1 networks, `classify` names an L1 network's algorithm with its
evidence, `fingerprint` describes any network's neurons in numbers and words, `measure` evaluates a whole file on
data for both, `directions` reads a network along the directions its neurons share, `families` clusters a sweep's
networks by fingerprint, `decode` extracts and re-encodes an algorithm's parameters, `draw` pictures networks,
and `readout` keeps the read-out beside its file. Modules, in the data's order: netmath, references, classify,
fingerprint, measure, directions, families, decode, draw, readout."""
