"""What every study shares: its config file and overrides (:mod:`.config`), generated samples in
a cache and their splits (:mod:`.generation`), the CoDec sample sets (:mod:`.codec_samples`, used by
the tagging and the mass studies), engine runs done once and reused (:mod:`.cached_runs`),
and summaries over seeds (:mod:`.summary`); scoring of trained runs is
:mod:`codec_jax.inference.scoring`."""
