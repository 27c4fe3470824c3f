"""Where a dark's files live: MAST's open-data bucket and its HTTPS download service.

A location is a local path (or ``file://`` URL), ``s3://bucket/key`` or ``https://...``.
"""

from __future__ import annotations

from ..model import HstcrError

#: MAST's open-data bucket and the prefix of the HST products in it.
S3_BUCKET = "stpubdata"
S3_PREFIX = "hst/public"
MAST_DOWNLOAD_URL = "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/{filename}"


def s3_key(dataset: str, suffix: str) -> str:
    """Key of a product in the MAST bucket: ``hst/public/<first 4>/<dataset>/<dataset>_<suffix>.fits``."""
    dataset = dataset.lower()
    return f"{S3_PREFIX}/{dataset[:4]}/{dataset}/{dataset}_{suffix.lower()}.fits"


def s3_location(dataset: str, suffix: str, bucket: str = S3_BUCKET) -> str:
    """``s3://stpubdata/hst/public/...`` location of one product of a dataset."""
    return f"s3://{bucket}/{s3_key(dataset, suffix)}"


def mast_url(dataset: str, suffix: str) -> str:
    """MAST's HTTPS download URL of one product of a dataset."""
    return MAST_DOWNLOAD_URL.format(filename=f"{dataset.lower()}_{suffix.lower()}.fits")


def split_s3(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key).

    Raises
    ------
    HstcrError
        Not an ``s3://bucket/key`` location.
    """
    bucket, _, key = location[len("s3://"):].partition("/")
    if not bucket or not key:
        raise HstcrError("not an s3://bucket/key location", source=location)
    return bucket, key
