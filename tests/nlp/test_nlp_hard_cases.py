"""What real group text looks like: each case is one thing that must not break."""

from __future__ import annotations

import pytest

from nlp import Classifier, classify

# (text, intent, category, urgent)
CASES = [
    # the product's own example
    ("9号楼2单元楼道灯坏了好几天了，晚上摔了一跤", "complaint", "repair", False),
    # acknowledgements, thanks, forwarded notices, ads, steward announcements
    ("收到", "none", None, False),
    ("好的", "none", None, False),
    ("收到，谢谢管家🙏", "none", None, False),
    ("[强][强][强]", "none", None, False),
    ("【通知】因管网维修，明天8:00-12:00停水，请提前储水。", "none", None, False),
    ("各位业主：温馨提示，近期天气干燥，请勿在楼道给电动车充电。", "none", None, False),
    ("出售地下车位一个，有意者私聊", "none", None, False),
    ("转让九成新婴儿车，需要的联系我", "none", None, False),
    # already fixed / taken back
    ("电梯修好了，谢谢师傅", "none", None, False),
    ("不用了，已经好了", "none", None, False),
    ("修好了没两天又坏了，电梯这是第几回了", "complaint", "repair", False),
    # typos and homophones
    ("电悌又坏了", "complaint", "repair", False),
    ("暧气不热，孩子冻感冒了", "complaint", "utilities", False),
    ("楼到灯不亮了", "complaint", "repair", False),
    # @mentions at the start, emoji and sticker codes
    ("@物业管家\u2005二号楼门禁又坏了[捂脸]", "complaint", "repair", False),
    ("@张经理 @李管家 垃圾三天没人收了😡😡", "complaint", "sanitation", False),
    # sarcasm
    ("物业真是太好了，电梯又坏了三天", "complaint", "repair", False),
    ("物业效率真高啊，报修一个月了灯还是黑的", "complaint", "repair", False),
    # complaints that never say the category's word
    ("家里水龙头一滴都没有", "complaint", "utilities", False),
    ("屋里穿着羽绒服还哆嗦", "complaint", "utilities", False),
    ("晚上回家要摸黑爬六楼", "complaint", "repair", False),
    # urgent
    ("闻到煤气味了，3号楼2单元", "complaint", "safety", True),
    ("电梯困人了！里面有个老太太", "complaint", "repair", True),
    ("楼上水管爆了，水往我家天花板上流", "complaint", "repair", True),
    ("楼下电表箱在冒火花", "complaint", "safety", True),
    ("外墙瓷砖松了，随时会掉下来砸到人", "complaint", "safety", True),
    # feared, not happening: not urgent
    ("楼道里全是电动车在充电，万一着火怎么办", "complaint", "safety", False),
    # consultations the bot answers
    ("项目经理接待日是哪天？", "consult", None, False),
    ("民情书记这个月什么时候来", "consult", None, False),
    ("物业费怎么交，能微信交吗", "consult", None, False),
    ("我们楼的网格员是谁，电话多少", "consult", None, False),
    # a report phrased as a question is still a report
    ("电梯坏了找谁修？", "complaint", "repair", False),
    # run-on voice-to-text
    (
        "喂那个物业吗我是三号楼的我们家这个暖气啊一直就不热摸着凉凉的这都几天了你们给看看呗",
        "complaint",
        "utilities",
        False,
    ),
    # very short
    ("漏水！", "complaint", "repair", False),
    ("好吵", "complaint", "order", False),
    ("嗯", "none", None, False),
    ("", "none", None, False),
    # chat
    ("今天天气真好，出来晒太阳了", "none", None, False),
    # homophones no table lists, caught by the pinyin fallback
    ("电题又不动了", "complaint", "repair", False),
    ("闻到然气味了，是不是哪里漏了", "complaint", "safety", True),
    # a real word is not a misspelling of its homophone (可以 is not 可疑)
    ("明天社区组织体检，六十岁以上的老人可以去", "none", None, False),
    # notice headers and a steward's replies
    ("【停气通知】因燃气管道改造，本周六小区暂停供气，请提前做好准备。", "none", None, False),
    ("您好，已经为您登记，师傅下午过去", "none", None, False),
    # ...but a resident quoting a notice word is still reporting
    ("暖气维修中？我家还是不热", "complaint", "utilities", False),
    # lost and found, neighbours borrowing: chat
    ("谁看到我家的小白狗了，今天早上跑丢了", "none", None, False),
    ("哪位邻居有电钻，借用一下", "none", None, False),
    # context cancels an urgent word: a radiator being bled is no gas leak
    ("家里的暖气刚开就漏气嘶嘶的，也不热", "complaint", "utilities", False),
    # A-not-A asks, it does not deny
    ("热水器出不来热水，小区热水是不是有问题", "complaint", "utilities", False),
    ("民情书记这个月来不来了", "consult", None, False),
    # asking what to do about a problem is a consultation, not a report
    ("家里漏水了应该先关哪个阀门", "consult", None, False),
    ("停车费是按月交还是按年交", "consult", None, False),
    # 今天天气 has no 天天 in it
    ("今天天气冷，大家出门多穿点", "none", None, False),
]


@pytest.mark.parametrize(("text", "intent", "category", "urgent"), CASES)
def test_hard_case(
    clf: Classifier, text: str, intent: str, category: str | None, urgent: bool
) -> None:
    u = clf.classify(text)
    assert (u.intent, u.category if intent == "complaint" else None, u.urgent) == (
        intent,
        category,
        urgent,
    ), u
    if intent == "complaint":
        assert not u.borderline
        assert u.keywords


def test_two_problems_pick_the_main_one(clf: Classifier) -> None:
    u = clf.classify("楼道卫生没人管，垃圾都堆到楼梯上了，臭得要命，还有灯也不亮")
    assert u.intent == "complaint"
    assert u.category == "sanitation"


def test_very_long_message_is_understood(clf: Classifier) -> None:
    text = (
        "本来我不想说的，但是真的忍不了了，我们3号楼1单元的电梯从上个月开始就三天两头出问题，"
        "上周五电梯卡在四楼开不了门，给物业打电话也没人接，到现在也没人来看，今天早上又停了，"
    ) * 8
    u = clf.classify(text)
    assert u.intent == "complaint"
    assert u.category == "repair"
    assert u.location is not None and u.location.text.startswith("3号楼1单元")


def test_consult_topic_is_reported(clf: Classifier) -> None:
    assert clf.classify("接待日什么时候").topic == "reception_day"
    assert clf.classify("民意5来听是几号").topic == "five_listen"
    assert clf.classify("维修电话是多少").topic == "contact"
    assert clf.classify("物业费一平米多少钱？").topic == "fees"


def test_module_level_classify_uses_default() -> None:
    assert classify("停水了").intent == "complaint"


def test_explicit_intake_can_force_a_complaint(clf: Classifier) -> None:
    u = clf.classify("今天天气真好")
    forced = u.as_complaint("service")
    assert forced.intent == "complaint" and forced.category == "service" and not forced.borderline


def test_borderline_keeps_a_best_category(clf: Classifier) -> None:
    u = clf.classify("门禁刷卡没反应")
    if u.borderline:
        assert u.intent == "complaint" and u.category is not None
