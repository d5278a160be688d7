"""Material review (智能审核): residents' photos and PDFs read locally, matched to an item's materials.

`ocr.py` reads text (RapidOCR, optional extra), `documents.py` recognises document kinds from
the cues in `kinds.json`, `checks.py` checks key fields, `review.py` judges each material.
The review assists staff; it never rejects an application by itself.
"""
