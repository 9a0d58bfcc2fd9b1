"""mtpflow.mtp"""
