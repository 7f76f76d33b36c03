"""The course's datasets (:mod:`reference.data`) under the name the notebooks import."""

from reference.data import *  # noqa: F401,F403
from reference.data import load, one_hot  # noqa: F401
