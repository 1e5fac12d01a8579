"""The study's analyses, built on the models and the data layer.

* :mod:`~winback_study.analysis.customer_value`: expected second-lifetime value and the
  value of a win-back attempt under each offer;
* :mod:`~winback_study.analysis.roi`: incremental ROI, and the costs and values per
  customer that enter it;
* :mod:`~winback_study.analysis.offer_experiment`: the experiment analysed arm by arm
  (intervals, tests, the exhibit replicated);
* :mod:`~winback_study.analysis.sensitivity`: how ROI and the ranking move with the value
  horizon, the discount rate and the costs;
* :mod:`~winback_study.analysis.targeting`: whom to contact with which offer, policies,
  sample size.

Every analysis reads arms, costs and the control arm from a
:class:`~winback_study.design.StudyDesign` (``design=``). Nothing is imported here, so
``winback_study.analysis.offer_experiment`` stays the module (the function is
``winback_study.offer_experiment``).
"""
