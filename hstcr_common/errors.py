"""The one exception type a user can cause.

Anything wrong with *input* (a corrupt FITS file, an unknown instrument, a missing keyword,
a zero exposure time) raises :class:`HstcrError` with a message that names the file and the
problem.  The pipeline turns these into ``failures`` rows; anything else is a bug.
"""

from __future__ import annotations


class HstcrError(Exception):
    """A problem with the input that a user can fix or skip.

    Parameters
    ----------
    message : str
        What is wrong, in words a user understands.
    source : str, optional
        The file (path, ``s3://`` or ``https://`` location) the problem is in.  It is put in
        front of the message so the message always names the file.
    stage : str, optional
        Pipeline stage where it happened (``load``, ``detect``, ``orbit``, ``write``...).
    """

    def __init__(self, message: str, source: str | None = None, stage: str | None = None):
        self.source = source
        self.stage = stage
        self.problem = message
        super().__init__(f"{source}: {message}" if source else message)
