"""Everything WeChat: the 公众号 (`oa`) and the mini-program (`miniprogram`).

They share one signature check and safe-mode envelope (`security`) and Tencent's API with its
access token (`api`).
"""
