"""What a resident wants, from the way people phrase it — general cue classes, not sentences.

Each intent has regular expressions for the phrasings that signal it in Mandarin, colloquial
and Cantonese-flavoured Chinese. The offline brain combines these with slot extraction and the
retrieval's confidence; the order of `detect` is the precedence when several match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HANDOFF = re.compile(
    r"人工|真人|工作人员|客服|坐席|接线员|转接|找人|叫人|找你们(领导|负责人)|投诉|举报|"
    r"(找|叫|要|转)(个|一个)?(人|领导)|跟人(说|讲)|同人讲|搵人|"
    r"(叫|找|喊|请)(你们|你哋)?(的)?(领导|负责人|经理|主任|主管|上级)"
)
_ERASE = re.compile(r"(删除|删掉|清除|清空|抹掉|忘记|忘掉)(我的|我)?(个人)?(信息|资料|数据|记录|记忆)?|忘记我")
_SHOW_DATA = re.compile(r"(我的|关于我的)(个人)?(信息|资料|数据)|你(都)?(记得|知道|保存了|存了)(我)?(什么|哪些|啥)")
_INJECTION = re.compile(
    r"忽略|无视|忘记(你)?(之前|上面|以上)|ignore|disregard|system\s*prompt|系统提示|提示词|"
    r"开发者模式|越狱|jailbreak|你现在是|扮演|假装你是|管理员身份|"
    r"(其他|别|所有|全部)(人|用户|居民|人家)(的)?(手机|电话|身份证|信息|资料|姓名|住址|进度|办件)",
    re.IGNORECASE,
)
# a write (booking, cancelling) on behalf of someone else: appointments are real-name and belong
# to the resident talking, so the agent must not book or cancel "for the neighbour" under their name
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤蒙农"
)
_OTHERS = r"(邻居|朋友|同事|同学|亲戚|别人|他人|其他人|其他居民|人家|他|她)"
_THIRD_PARTY = re.compile(
    rf"(帮|替|给|为|代)(我的?)?{_OTHERS}(?!们?(说|讲|问|讲))|"
    rf"{_OTHERS}(的|嘅)(预约|约|号|办件|名字|身份证|手机|电话)|"
    rf"(取消|撤销|退掉){_OTHERS}|(帮|替|给|为|代)[{_SURNAMES}][\u4e00-\u9fa5]{{1,2}}(取消|撤销|预约|约|挂号|排号)|"
    r"以.{1,8}的?名义|用.{1,8}的(身份证|证件|手机|电话|账号)|名下|"
    r"(号码?|电话|手机|身份证)\s*[0-9Xx*]{4,}\s*的(人|那个人|这个人|用户)|"
    rf"(?<![我你您])[{_SURNAMES}](?!周?[一二三四五六日天末])(?:(?![区市县镇乡村街路厅局所站馆院楼中心])[\u4e00-\u9fa5]){{1,2}}(的|嘅)(预约|约|号)"
)
_CANCEL = re.compile(
    r"取消|撤销|退掉|不去了|去不了|唔去|不想去了|来不了|不能去了|"
    r"(预约|约).{0,8}(不想要了|不要了|不需要了|不用了|作废)|(不想要|不要|不需要)(那个|这个)?(预约|约)"
)
_MY_APPOINTMENTS = re.compile(r"(我的|我有|我约了?的?|查一?下?)(哪些)?预约(记录)?|约了(哪天|几号|什么)|(有没有|有冇)(约|预约)")
_BOOK = re.compile(
    r"预约|挂号|排号|取号|订个?号|约(个|一下|一个|好|在|到|明天|后天|今天|下周|下礼拜|这周|周[一二三四五六日天]|星期|礼拜|\d|[上下]午)|"
    r"(帮我|给我|替我|我想|我要|想|要)约|(可以|能)约"
)
_PROGRESS = re.compile(
    r"进度|进展|办到哪|到哪(一)?步|哪个环节|办好(了)?(没|吗|未)|好了(没|吗)|批(下来|了)(没|吗)|"
    r"审批结果|办理结果|审核结果|有(结果|消息)(了)?(没|吗)?|受理编号|受理号|回执号|办件|查件|"
    r"状态|搞掂(未|没)|(审批|审核|批)(得|到)?(怎么样|点样|咋样|如何|乜嘢情况)|"
    r"(之前|上次|前几天|早前|先前)(办|交|申请|递交)(的|咗)?.{0,12}(怎么样|点样|咋样|如何|到哪)|"
    r"办(得|成)(怎么样|点样|咋样|如何|点)"
)
# repairing a task under way: changing what is booked, owning up to a mistake, dropping the
# topic, needing time to think (Rasa CALM's correction, cancellation and chitchat patterns)
_CHANGE = re.compile(r"改(到|成|为|去|约|期|时间|一下时间|个时间)|(换|调|挪|推迟|延后|提前)(到|成|去|为)|换(个|一个)?时间|改天")
_MISTAKE = re.compile(r"(约|搞|说|弄|填|选|讲|写|打)错(了|咗)?|错了|不对|唔系|不是.{1,12}(是|系)|口误")
_DISMISS = re.compile(
    r"先不(说|讲|谈|管|聊|理|约|预约|办)(这个|那个|了)?|不(说|讲)(这个|那个)了?|不约了|不预约了|不办了|"
    r"不用约了|唔约了|换个话题|算了吧?|不要(约|预约)了"
)
# an appointment the resident already has, referred to (我约的社保卡, 之前约好的)
_BOOKED_REF = re.compile(r"我(约|预约|订|挂)(了|好|咗)?的|约好(了)?的|(之前|上次|原来|已经)(约|预约)(了|好)?的|我的(那个)?预约|(我|已经)约了")
_HESITATE = re.compile(r"再想想|想一想|想想先|我想想|考虑(一下|考虑|下)|等(一下|一等|等|阵)|稍等|犹豫|拿不定|还没想好|迟啲先")
_GREETING = re.compile(
    r"^(你好|您好|哈喽|哈啰|嗨|hello|hi|在吗|在不在|早上好|上午好|中午好|下午好|晚上好|早晨|喂|"
    r"(谢谢|多谢|感谢|唔该|辛苦)(你|您|你们|晒|了)*|再见|拜拜|好的谢谢|没事了|冇嘢了)[呀啊啦吗呢哦～~!！。.，, ]*$",
    re.IGNORECASE,
)
_ABOUT_BOT = re.compile(r"你是(谁|什么|机器人|人吗)|你叫什么|你(能|会|可以)(做|干|帮)(什么|啥|我什么)|有什么功能|怎么用")
# asking for a pre-filled application form (填表), or to go on with one
_FORM = re.compile(
    r"(预?填|填写|填好|生成|打印)[^，,。？?！!]{0,30}(表|表格|申请书|声明书)|"
    r"(申请表|申请书|登记表|声明书|表格?)(怎么|如何|点样)?(填|帮我填)|(继续|接着)填|填表"
)
_SERVICE_WORDS = re.compile(
    r"办|证|卡|申请|申领|登记|补|换|领|提取|缴|交|报|备案|认定|证明|手续|材料|流程|条件|资格|"
    r"窗口|大厅|政务|社保|医保|公积金|户口|户籍|护照|驾照|驾驶|营业执照|不动产|房产|婚|生育|出生|"
    r"退休|养老|低保|救助|补贴|津贴|残疾|入学|报名|个税|纳税|公证|律师|法律|租房|公租房|失业|就业|创业"
)


@dataclass(frozen=True)
class Cues:
    handoff: bool
    erase: bool
    show_data: bool
    injection: bool
    third_party: bool
    cancel: bool
    my_appointments: bool
    book: bool
    progress: bool
    greeting: bool
    about_bot: bool
    service_words: bool
    form: bool
    change: bool = False
    mistake: bool = False
    dismiss: bool = False
    hesitate: bool = False
    booked_ref: bool = False


def cues(text: str) -> Cues:
    return Cues(
        handoff=bool(_HANDOFF.search(text)),
        erase=bool(_ERASE.search(text)) and bool(re.search(r"我|信息|资料|数据", text)),
        show_data=bool(_SHOW_DATA.search(text)),
        injection=bool(_INJECTION.search(text)),
        third_party=bool(_THIRD_PARTY.search(text)),
        cancel=bool(_CANCEL.search(text)),
        my_appointments=bool(_MY_APPOINTMENTS.search(text)),
        book=bool(_BOOK.search(text)),
        progress=bool(_PROGRESS.search(text)),
        greeting=bool(_GREETING.match(text.strip())),
        about_bot=bool(_ABOUT_BOT.search(text)),
        service_words=bool(_SERVICE_WORDS.search(text)),
        form=bool(_FORM.search(text)),
        change=bool(_CHANGE.search(text)),
        mistake=bool(_MISTAKE.search(text)),
        dismiss=bool(_DISMISS.search(text)),
        hesitate=bool(_HESITATE.search(text)),
        booked_ref=bool(_BOOKED_REF.search(text)),
    )


def strip_repair_words(text: str) -> str:
    """The message without its repair words (不约了，…), for finding what it is about."""
    for pattern in (_DISMISS, _MISTAKE, _HESITATE):
        text = pattern.sub("，", text)
    return text.strip("，, ")
