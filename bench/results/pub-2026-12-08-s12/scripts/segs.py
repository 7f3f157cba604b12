import sys,re,json
def parse(f):
    lines=open(f).read().split('\n'); d={}
    i=0
    while i<len(lines):
        l=lines[i]
        if 'ringq-bench' in l and i+1<len(lines):
            key=' '.join(l.split()[2:4]); s=lines[i+1]
            g=lambda k:int(re.search(r'\b'+k+r':(\d+)',s).group(1)) if re.search(r'\b'+k+r':(\d+)',s) else 0
            d[key]=(g('data_segs_out'),g('data_segs_in'),g('bytes_sent'),g('bytes_received'))
            i+=2; continue
        i+=1
    return d
a=parse(sys.argv[1]+'.a'); b=parse(sys.argv[1]+'.b')
tot=[0,0,0,0]
for k in b:
    if k in a:
        for j in range(4): tot[j]+=b[k][j]-a[k][j]
print("client: data segs out %d in %d, bytes out %d in %d over 2s, conns %d"%(tot[0],tot[1],tot[2],tot[3],len([k for k in b if k in a])))
if len(sys.argv)>2:
    msgs=float(sys.argv[2])*2
    print(" per msg: req segs %.3f ans segs %.3f (msgs/seg out %.1f in %.1f)"%(tot[0]/msgs,tot[1]/msgs,msgs/max(tot[0],1),msgs/max(tot[1],1)))
