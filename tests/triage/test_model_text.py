"""How the model reads real questions: identifiers in code and tracebacks become words, noise does not count."""

from __future__ import annotations

from helpdesk.triage.model import TriageModel, analyze

# Questions written in words only: the model learns "deep coadd", "dataset not found", "tap service" from them.
WORDS = [
    ("Deep coadd missing", "I cannot find the deep coadd for my tract in the repository", "butler"),
    ("dataset not found", "the dataset was not found when I read the deep coadd image", "butler"),
    ("coadd image of a patch", "how do I read the coadd image and its mask", "butler"),
    ("Which dataset holds the coadd", "which dataset do I read for a deep coadd", "butler"),
    ("tap service is slow", "my tap service query takes forever on the object table", "catalogs"),
    ("query the tap service", "how do I get the tap service and run a query with a row limit", "catalogs"),
    ("object table columns", "which column of the object table holds the flux", "catalogs"),
    ("row limit of a query", "my query returns only part of the rows of the table", "catalogs"),
]


def test_identifiers_in_code_become_the_words_inside_them() -> None:
    features = set(analyze("butler.get('deepCoadd_calexp') raised lsst.daf.butler.DatasetNotFoundError; "
                           "service = get_tap_service('tap'); SELECT coord_ra FROM dp02_dc2_catalogs.Object"))
    # camelCase and snake_case table and dataset type names
    assert {"deep", "coadd", "calexp", "coord", "ra", "object", "catalogs"} <= features
    # an exception's class name and its module path
    assert {"dataset", "found", "error", "lsst", "daf", "butler"} <= features
    # a function name
    assert {"get", "tap", "service"} <= features
    # and the identifiers themselves are kept whole (they are the strongest evidence)
    assert {"lsst.daf.butler.datasetnotfounderror", "get_tap_service", "deepcoadd_calexp"} <= features
    # digits stay with their letters: DP0.2 and dc2 are not cut into "dp" and "2"
    assert {"dp0.2", "dp0"} <= set(analyze("DP0.2")) and "dp" not in set(analyze("DP0.2 dp02_dc2"))


def test_noise_in_pasted_text_is_not_a_feature() -> None:
    features = set(analyze("at https://data.lsst.cloud/nb/user/jdoe/lab?token=s3cr3tvalue#cell "
                           "object 0x7f3a2b10c0 commit 3f9a2b1c4d5e visit 1923504 in /home/jdoe/notebooks/a.ipynb"))
    assert not {f for f in features if "jdoe" in f or "s3cr3tvalue" in f or "cell" in f}
    assert not {f for f in features if "0x7f3a2b10c0" in f or "3f9a2b1c4d5e" in f or "1923504" in f}
    assert "data.lsst.cloud" in " ".join(features)  # the host and the path stay: they say which service
    assert "/home" not in features and "notebooks" in features


def test_a_traceback_of_identifiers_is_read_as_the_words_staff_taught_and_reasons_say_so() -> None:
    model = TriageModel.train(WORDS)
    ranked, terms = model.predict("Traceback", "lsst.daf.butler.DatasetNotFoundError: deepCoadd_calexp")
    assert ranked[0][0] == "butler"
    # the reasons are the words staff read, found inside the identifiers
    assert {"coadd", "dataset"} & set(terms), terms
    # (in the person's words: a pasted line of code is not what the model reads, see test_pasted_code.py)
    ranked, terms = model.predict("TypeError", "my get_tap_service('tap') fails in cell 3")
    assert ranked[0][0] == "catalogs"
    assert "tap" in terms or "service" in terms, terms


def test_reasons_are_never_only_common_words_or_numbers() -> None:
    # "on my ... 0.2" is in every catalogs question and no other: the model weighs it, staff learn nothing from it
    noisy = [(t, f"on my {b} 0.2" if q == "catalogs" else b, q) for t, b, q in WORDS]
    model = TriageModel.train(noisy)
    ranked, terms = model.predict("on my 0.2", "on my table on my 0.2")
    assert ranked[0][0] == "catalogs"
    assert "table" in terms, terms
    assert not {"on", "my", "on my", "0.2", "my 0.2"} & set(terms), terms
