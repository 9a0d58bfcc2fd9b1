"""mtpflow.md"""
