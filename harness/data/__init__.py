"""Datasets: the file format and its reader (:mod:`.dataset`), writers (:mod:`.writer`), exact ground
truth (:mod:`.groundtruth`), the registry (:mod:`.registry`) with its recipes (:mod:`.recipes`),
pinned inputs (:mod:`.source_files`), generators (:mod:`.synthetic`), text collections
(:mod:`.corpora`, :mod:`.limit`; BEIR, TREC, SMART: :mod:`.text_formats`) and encoders
(:mod:`.encoders`), importers of other formats (:mod:`.importers`), derived views (:mod:`.views`),
and the data folder (:mod:`.store`).
"""
