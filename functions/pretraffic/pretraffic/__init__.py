"""CodeDeploy's PreTraffic hook: the new version of the inference function must answer sample requests right.

The Lambda entry is ``pretraffic.handler.handler``; ``checks`` holds the sample requests and what each answer must be.
"""
