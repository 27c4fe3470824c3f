"""Writes the replayed MAST Portal API responses in this folder (run once; the JSON is committed).

No network was available when these were made, so they are hand-written in the format MAST's
Portal API returns (``/api/v0/invoke`` with ``format=json``: ``status``, ``msg``, ``fields``,
``data``, ``paging``), following astroquery's own test data (``advSearch.json``,
``products.json``; ``columnsconfig_caom.json`` is astroquery's ``columnsconfig.json``).
Rootnames, obsids and sizes are realistic but invented; sizes are whole 2880-byte blocks.

Scenarios (see tests/test_mast.py):
  acs_wfc 2019-01  3 pages at pagesize 3: plain darks, an association with 2 members, a 2K
                   subarray, a dark without its spt, a dark starting at 00:00 on 1 Feb
                   (belongs to February), a SCIENCE file of another suffix (raw, jif).
  acs_wfc 2019-02  an empty month.
  acs_wfc 2019-03  MAST answers status ERROR.
  wfpc2   2005-06  WFPC2 and WFPC2/PC darks: c0m + c1m + shm.
  wfc3_ir 2019-01  full-frame and 512x512-subarray ramps (ima + flt + spt).
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
OBS_FIELDS = [
    ("dataproduct_type", "string"), ("calib_level", "int"), ("obs_collection", "string"),
    ("obs_id", "string"), ("target_name", "string"), ("s_ra", "float"), ("s_dec", "float"),
    ("t_min", "float"), ("t_max", "float"), ("t_exptime", "float"), ("wavelength_region", "string"),
    ("filters", "string"), ("em_min", "float"), ("em_max", "float"), ("target_classification", "string"),
    ("obs_title", "string"), ("t_obs_release", "float"), ("instrument_name", "string"),
    ("proposal_pi", "string"), ("proposal_id", "string"), ("project", "string"), ("s_region", "string"),
    ("jpegURL", "string"), ("dataURL", "string"), ("intentType", "string"), ("obsid", "string"),
    ("objID", "string"),
]
PRODUCT_FIELDS = [
    ("obsID", "string"), ("obs_collection", "string"), ("dataproduct_type", "string"),
    ("obs_id", "string"), ("description", "string"), ("type", "string"), ("dataURI", "string"),
    ("productType", "string"), ("productGroupDescription", "string"),
    ("productSubGroupDescription", "string"), ("productDocumentationURL", "string"),
    ("project", "string"), ("prvversion", "string"), ("proposal_id", "string"),
    ("productFilename", "string"), ("size", "int"), ("parent_obsid", "string"),
    ("dataRights", "string"), ("calib_level", "int"), ("_selected_", "boolean"),
]


def blocks(n):
    return -(-n // 2880) * 2880


def obs(obsid, obs_id, inst, t_min, exptime, target="DARK", proposal="15728", title="ACS CCD Daily Monitor"):
    return {
        "dataproduct_type": "image", "calib_level": 2, "obs_collection": "HST", "obs_id": obs_id,
        "target_name": target, "s_ra": 0.0, "s_dec": 0.0, "t_min": t_min,
        "t_max": round(t_min + (exptime + 60) / 86400, 6), "t_exptime": exptime,
        "wavelength_region": "OPTICAL", "filters": "DARK", "em_min": None, "em_max": None,
        "target_classification": "CALIBRATION", "obs_title": title, "t_obs_release": t_min + 1,
        "instrument_name": inst, "proposal_pi": "Instrument Team", "proposal_id": proposal,
        "project": "HST", "s_region": None,
        "jpegURL": f"https://archive.stsci.edu/hst/previews/{obs_id[:4].upper()}/{obs_id.upper()}.jpg",
        "dataURL": None, "intentType": "calibration", "obsid": obsid, "objID": str(int(obsid) + 9000000),
    }


DESCRIPTIONS = {
    "flt": ("DADS FLT file - Calibrated exposure ACS/WFC3/STIS/COS", "SCIENCE", "Minimum Recommended Products"),
    "flc": ("DADS FLC file - CTE-corrected calibrated exposure ACS/WFC3", "SCIENCE", "Minimum Recommended Products"),
    "raw": ("DADS RAW file - Raw exposure", "SCIENCE", None),
    "spt": ("DADS SPT file - Engineering telemetry ACS/WFC3/NICMOS/COS/STIS", "AUXILIARY", None),
    "jif": ("DADS JIF file", "AUXILIARY", None),
    "asn": ("DADS ASN file - Association ACS/WFC3/STIS", "AUXILIARY", None),
    "ima": ("DADS IMA file - Intermediate calibrated exposure WFC3/NICMOS", "SCIENCE", None),
    "c0m": ("DADS C0M file - Calibrated data WFPC2", "SCIENCE", "Minimum Recommended Products"),
    "c1m": ("DADS C1M file - Calibrated data quality WFPC2", "AUXILIARY", None),
    "shm": ("DADS SHM file - Standard header packet WFPC2", "AUXILIARY", None),
}


def prod(obsid, obs_id, filename, size, proposal="15728"):
    suffix = filename.split("_")[1].split(".")[0]
    description, ptype, group = DESCRIPTIONS[suffix]
    return {
        "obsID": obsid, "obs_collection": "HST", "dataproduct_type": "image", "obs_id": obs_id,
        "description": description, "type": "S", "dataURI": f"mast:HST/product/{filename}",
        "productType": ptype, "productGroupDescription": group,
        "productSubGroupDescription": suffix.upper(), "productDocumentationURL": None,
        "project": "CALACS", "prvversion": "10.3.5", "proposal_id": proposal,
        "productFilename": filename, "size": blocks(size), "parent_obsid": obsid,
        "dataRights": "PUBLIC", "calib_level": 2 if ptype == "SCIENCE" else 1, "_selected_": None,
    }


def page(rows, fields, page_no, pagesize, total):
    pages = max(1, -(-total // pagesize))
    return {
        "status": "COMPLETE", "msg": "",
        "fields": [{"name": n, "type": t} for n, t in fields],
        "data": rows,
        "paging": {"page": page_no, "pageSize": pagesize, "pagesFiltered": pages,
                   "rows": len(rows), "rowsFiltered": total, "rowsTotal": total},
    }


def write(name, obj):
    (HERE / name).write_text(json.dumps(obj, indent=1) + "\n")


ACS_FLT = 2 * 2048 * 4096 * 10 + 120 * 2880     # SCI+ERR+DQ x 2 chips + headers: 168 MB
ACS_SUB_FLT = 2048 * 2046 * 10 + 60 * 2880      # one 2K subarray: 42 MB
ACS_RAW = 2 * 2068 * 4144 * 2 + 90 * 2880
SPT = 41 * 2880


def acs():
    darks = [  # obsid, obs_id, t_min, exptime, target, members (rootnames) or None
        ("2004001001", "jdr101abq", 58484.12340, 1000.0, "DARK", None),
        ("2004001002", "jdr101acq", 58490.50211, 1000.0, "DARK-EXT", None),
        ("2004001003", "jdr105010", 58496.25000, 1000.0, "DARK", ["jdr105e1q", "jdr105e2q"]),
        ("2004001004", "jdr102x1q", 58501.00420, 36.0, "DARK", None),      # 2K subarray
        ("2004001005", "jdr103a1q", 58508.71003, 1000.0, "DARK", None),    # spt missing
        ("2004001006", "jdr106f1q", 58515.00000, 1000.0, "DARK", None),    # 2019-02-01 00:00
        ("2004001007", "jdr104b2q", 58514.90102, 1000.0, "DARK", None),
    ]
    rows = [obs(o, i.upper() if i.endswith("010") else i, "ACS/WFC", t, e, target=tg) for o, i, t, e, tg, _ in darks]
    pagesize = 3
    for n in range(3):
        write(f"filtered_acs_wfc_2019-01_p{n + 1}.json", page(rows[n * 3:(n + 1) * 3], OBS_FIELDS, n + 1, pagesize, len(rows)))
    products = []
    for obsid, obs_id, _, _, _, members in darks:
        for root in members or [obs_id]:
            sub = obs_id == "jdr102x1q"
            products.append(prod(obsid, obs_id, f"{root}_flt.fits", ACS_SUB_FLT if sub else ACS_FLT))
            products.append(prod(obsid, obs_id, f"{root}_flc.fits", (ACS_SUB_FLT if sub else ACS_FLT) + 2880))
            products.append(prod(obsid, obs_id, f"{root}_raw.fits", ACS_RAW))
            if obs_id != "jdr103a1q":
                products.append(prod(obsid, obs_id, f"{root}_spt.fits", SPT))
            products.append(prod(obsid, obs_id, f"{root[:-1]}j_jif.fits", 5 * 2880))
        if members:
            products.append(prod(obsid, obs_id, f"{obs_id}_asn.fits", 4 * 2880))
    write("products_acs_wfc_2019-01.json", page(products, PRODUCT_FIELDS, 1, 50000, len(products)))
    write("filtered_acs_wfc_2019-02_p1.json", page([], OBS_FIELDS, 1, pagesize, 0))
    write("filtered_acs_wfc_2019-03_p1.json", {
        "status": "ERROR",
        "msg": "Error converting data type varchar to float. (Mast.Caom.Filtered: query timed out on server db3)",
        "data": [], "fields": [], "paging": None})


def wfpc2():
    c0m, c1m, shm = 4 * 800 * 800 * 4 + 14 * 2880, 4 * 800 * 800 * 2 + 14 * 2880, 11 * 2880
    darks = [
        ("2003700101", "U9KA0101M", "WFPC2", 53522.40410, 1800.0),
        ("2003700102", "U9KA0102M", "WFPC2/PC", 53540.11205, 1000.0),
    ]
    rows = [obs(o, i, inst, t, e, proposal="10363", title="WFPC2 CYCLE 14 DECONTAMINATION AND DARKS")
            for o, i, inst, t, e in darks]
    write("filtered_wfpc2_2005-06_p1.json", page(rows, OBS_FIELDS, 1, 2000, len(rows)))
    products = []
    for obsid, obs_id, *_ in darks:
        root = obs_id.lower()
        for suffix, size in (("c0m", c0m), ("c1m", c1m), ("shm", shm)):
            products.append(prod(obsid, obs_id, f"{root}_{suffix}.fits", size, proposal="10363"))
    write("products_wfpc2_2005-06.json", page(products, PRODUCT_FIELDS, 1, 50000, len(products)))


def wfc3_ir():
    ima = 16 * 1024 * 1024 * 16 + 16 * 5 * 3 * 2880      # 16 reads x SCI/ERR/DQ/SAMP/TIME
    flt = 1014 * 1014 * 16 + 20 * 2880
    sub_ima, sub_flt = 16 * 522 * 522 * 16 + 16 * 5 * 3 * 2880, 512 * 512 * 16 + 20 * 2880
    darks = [
        ("2004100001", "idr701a1q", 58485.20105, 1402.9, False),
        ("2004100002", "idr702b3q", 58499.80310, 1402.9, True),
    ]
    rows = [obs(o, i, "WFC3/IR", t, e, proposal="15717", title="WFC3/IR Dark Monitor") for o, i, t, e, _ in darks]
    write("filtered_wfc3_ir_2019-01_p1.json", page(rows, OBS_FIELDS, 1, 2000, len(rows)))
    products = []
    for obsid, root, _, _, sub in darks:
        products.append(prod(obsid, root, f"{root}_ima.fits", sub_ima if sub else ima, proposal="15717"))
        products.append(prod(obsid, root, f"{root}_flt.fits", sub_flt if sub else flt, proposal="15717"))
        products.append(prod(obsid, root, f"{root}_spt.fits", SPT, proposal="15717"))
    write("products_wfc3_ir_2019-01.json", page(products, PRODUCT_FIELDS, 1, 50000, len(products)))


def products_columnsconfig():
    write("columnsconfig_products.json", {
        "obsID": {"text": "Product Group ID", "vot.datatype": "char"},
        "productFilename": {"text": "Filename", "vot.datatype": "char"},
        "productSubGroupDescription": {"text": "Product Subgroup", "vot.datatype": "char"},
        "size": {"text": "Size", "vot.datatype": "long", "ignoreValue": -1},
    })


if __name__ == "__main__":
    acs()
    wfpc2()
    wfc3_ir()
    products_columnsconfig()
