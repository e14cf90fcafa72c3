"""Indices of the record's slots that the yearly kernels write (``model.schema`` defines the slots themselves)."""

from __future__ import annotations

from model.schema import ARMS_CATEGORIES, REGION_VARIABLES, STATE_SLOTS, STATE_VARIABLES, SUPPLIERS, Partner

C, NONE, USA = Partner.CHN, Partner.NONE, Partner.USA
S_DELEGATIONS, S_TOUR = STATE_SLOTS[("delegations", C)], STATE_SLOTS[("delegation_tour", C)]
S_TRAINING, S_FORUM = STATE_SLOTS[("officers_training", C)], STATE_SLOTS[("forum_attends", C)]
S_PORT, S_EXERCISE = STATE_SLOTS[("port_call", C)], STATE_SLOTS[("exercise", C)]
S_AID, S_SPACE, S_GROUND = (STATE_SLOTS[("china_aid_usd_m", C)], STATE_SLOTS[("space_project", C)],
                            STATE_SLOTS[("space_ground_station", C)])
S_SURV_LEVEL, S_CAMERAS = STATE_SLOTS[("surveillance_level", C)], STATE_SLOTS[("surveillance_cameras", C)]
S_GAP = STATE_SLOTS[("capability_gap", NONE)]
S_CHN_DELIVERED, S_CHN_SIGNED = STATE_SLOTS[("china_arms_delivered_tiv", C)], STATE_SLOTS[("china_arms_deal_signed", C)]
S_CHN_MAJOR, S_CHN_FAILED = STATE_SLOTS[("china_arms_deal_signed_major", C)], STATE_SLOTS[("china_arms_deal_failed", C)]
S_CHN_VETOED, S_DONATION = STATE_SLOTS[("china_arms_deal_vetoed", C)], STATE_SLOTS[("china_arms_donation", C)]
S_COPRODUCTION = STATE_SLOTS[("china_coproduction_deal", C)]
S_OFFERED = slice(STATE_SLOTS[("china_arms_offered_light", C)],
                  STATE_SLOTS[("china_arms_offered_light", C)] + len(ARMS_CATEGORIES))
S_R_CHINA, S_R_US = STATE_SLOTS[("r_china", C)], STATE_SLOTS[("r_us", USA)]
S_ALIGNMENT, S_LEVERAGE = STATE_SLOTS[("alignment", NONE)], STATE_SLOTS[("us_leverage", USA)]
S_RECOGNISES = STATE_SLOTS[("recognises_beijing", C)]
S_DELIVERED = slice(STATE_SLOTS[("arms_imports_tiv", SUPPLIERS[0])],
                    STATE_SLOTS[("arms_imports_tiv", SUPPLIERS[0])] + len(SUPPLIERS))
S_SIGNED = STATE_SLOTS[("arms_deals_signed", SUPPLIERS[0])]
assert [STATE_VARIABLES[i].partner for i in range(S_DELIVERED.start, S_DELIVERED.stop)] == list(SUPPLIERS)
assert STATE_SLOTS[("arms_deals_signed", SUPPLIERS[-1])] == S_SIGNED + len(SUPPLIERS) - 1
R_PRESSURE, R_BOLDNESS, R_SHARE, R_TENSION, R_ADOPTERS = range(5)
R_REDLINE = slice(5, 5 + len(ARMS_CATEGORIES))
assert [v.name for v in REGION_VARIABLES] == ["us_pressure", "china_boldness", "china_arms_share", "us_china_tension",
                                              "surveillance_adopters"] + [f"china_redline_{c}" for c in ARMS_CATEGORIES]
