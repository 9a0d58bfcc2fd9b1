"""mtpflow.analysis"""
