"""China–US competition for defence ties in Latin America and the Caribbean: the Mesa model.

The package never imports Hydra or OmegaConf: entry points turn configs into the frozen parameter objects of
:mod:`model.params` and call :func:`model.run.simulate`.
"""

import logging

# Mesa logs every step at INFO (Mesa 3.3.1, model._wrapped_step): far too chatty for ensembles of thousands of runs.
logging.getLogger("MESA").setLevel(logging.WARNING)
