"""mtpflow.report"""
