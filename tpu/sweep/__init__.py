"""Design-space sweeps: ``run(spec, db)`` evaluates every design point of a spec (TOML) on a
process pool or a Dask cluster into a SQLite store; ``load(db)`` reads it back; ``pareto(df)``
keeps the non-dominated points.

```python
import tpu.sweep
df = tpu.sweep.run("sweep.toml", "results.sqlite")            # local pool, all cores
df = tpu.sweep.run("sweep.toml", "results.sqlite", client=distributed.Client("tcp://..."))
front = tpu.sweep.pareto(df, ["cycles", "energy_pj", "area_mm2"])
```
"""

from tpu.sweep import plots
from tpu.sweep.engine import Outcome, run
from tpu.sweep.pareto import DEFAULT_METRICS, non_dominated, pareto
from tpu.sweep.spec import Spec, SweepError, Workload, load_spec, points, spec_from_dict
from tpu.sweep.store import read as load

__all__ = ["DEFAULT_METRICS", "Outcome", "Spec", "SweepError", "Workload", "load", "load_spec",
           "non_dominated", "pareto", "plots", "points", "run", "spec_from_dict"]
